"""A real auth service on port 0, over real gRPC, on each database backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kernel.config import Settings
from kernel.host import ServiceHost
from kernel.rpc import channel
from services.auth.bootstrap import build
from switchboard.auth.v1 import auth_pb2_grpc

SECRET = "auth-tests-secret-0123456789abcdef0123456789abcdef"
ADMIN, ADMIN_PASSWORD = "root", "root-password-1"


@dataclass
class RunningAuth:
    host: ServiceHost
    stub: auth_pb2_grpc.AuthServiceStub


StartAuth = Callable[..., Awaitable[RunningAuth]]


@pytest.fixture
async def start_auth(database_url: str, nats_url: str) -> AsyncIterator[StartAuth]:
    started: list[tuple[ServiceHost, Any]] = []

    async def start(**overrides: Any) -> RunningAuth:
        values = {"database_url": database_url, "nats_url": nats_url, "jwt_secret": SECRET,
                  "admin_user": ADMIN, "admin_password": ADMIN_PASSWORD, **overrides}
        host = ServiceHost("auth", Settings(**values), build)
        port = await host.start("127.0.0.1:0")
        chan = channel(f"127.0.0.1:{port}")
        started.append((host, chan))
        return RunningAuth(host, auth_pb2_grpc.AuthServiceStub(chan))

    yield start
    for host, chan in reversed(started):
        await chan.close()
        await host.stop()


@pytest.fixture
async def auth(start_auth: StartAuth) -> auth_pb2_grpc.AuthServiceStub:
    return (await start_auth()).stub
