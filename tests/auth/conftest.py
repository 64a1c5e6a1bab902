"""A real auth service on port 0, over real gRPC, on each database backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kernel.host import ServiceHost
from kernel.rpc import channel
from services.auth.bootstrap import build
from services.auth.settings import AuthSettings
from switchboard.auth.v1 import auth_pb2_grpc

SECRET = "auth-tests-secret-0123456789abcdef0123456789abcdef"
ADMIN, ADMIN_PASSWORD = "root", "root-password-1"


@dataclass
class RunningAuth:
    host: ServiceHost
    stub: auth_pb2_grpc.AuthServiceStub
    settings: AuthSettings
    addr: str


StartAuth = Callable[..., Awaitable[RunningAuth]]


@pytest.fixture
async def start_auth(database_url: str, nats_url: str) -> AsyncIterator[StartAuth]:
    """Starts auth replicas on one store; each test has its own login-throttle bucket."""
    started: list[tuple[ServiceHost, Any]] = []
    bucket = f"sb_auth_logins_{uuid.uuid4().hex[:12]}"

    async def start(**overrides: Any) -> RunningAuth:
        values = {"database_url": database_url, "nats_url": nats_url, "jwt_secret": SECRET,
                  "admin_user": ADMIN, "admin_password": ADMIN_PASSWORD,
                  "login_throttle_bucket": bucket, **overrides}
        settings = AuthSettings(**values)
        host = ServiceHost("auth", settings, build)
        port = await host.start("127.0.0.1:0")
        addr = f"127.0.0.1:{port}"
        chan = channel(addr, settings, identity="auth-tests")
        started.append((host, chan))
        return RunningAuth(host, auth_pb2_grpc.AuthServiceStub(chan), settings, addr)

    yield start
    for host, chan in reversed(started):
        await chan.close()
        await host.stop()


@pytest.fixture
async def auth(start_auth: StartAuth) -> auth_pb2_grpc.AuthServiceStub:
    return (await start_auth()).stub
