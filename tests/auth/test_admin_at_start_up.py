"""The admin ensured at start-up (issue 12, item 6): a self-registered account that has the
configured admin name is never promoted, whatever its case, and admin rights never go
without the configured password; the admin exists before Register is served, so nobody
can take the name first. Real auth replicas on one store, over real gRPC."""

from __future__ import annotations

import grpc
import pytest

from kernel.host import ServiceHost
from services.auth.bootstrap import build
from services.auth.domain.errors import InvalidRegistrationError
from services.auth.settings import AuthSettings
from switchboard.auth.v1 import auth_pb2
from tests.auth.support import failure

SQUATTER_PASSWORD = "squatters-own-pass-7"
CONFIGURED = "configured-admin-pass-3"
STRONG = "Qm4vT9xKp2LwZr8NcB6yHd3JfS7aUe5G"


def login(stub, username: str, password: str):
    return stub.Login(auth_pb2.LoginRequest(username=username, password=password))


async def test_a_self_registered_admin_name_is_not_promoted_at_start_up(start_auth, caplog):
    before = await start_auth(admin_user="", admin_password="")
    squatter = await before.stub.Register(auth_pb2.RegisterRequest(
        username="Admin", password=SQUATTER_PASSWORD))

    after = await start_auth(admin_user="admin", admin_password=CONFIGURED)
    assert "admin 'admin' not ensured" in caplog.text

    own = await login(after.stub, "admin", SQUATTER_PASSWORD)
    assert own.user.user_id == squatter.user_id and not own.user.is_admin
    refused = await failure(login(after.stub, "ADMIN", CONFIGURED))
    assert refused.status == grpc.StatusCode.UNAUTHENTICATED
    stream = await after.host.infra.store.read_stream(f"user-{squatter.user_id}")
    assert "AdminGranted" not in {event.event_type for event in stream}
    admin_call = await failure(after.stub.ListUsers(
        auth_pb2.ListUsersRequest(), metadata=[("authorization",
                                                f"Bearer {own.access_token}")]))
    assert admin_call.status == grpc.StatusCode.PERMISSION_DENIED


async def test_the_admin_exists_before_register_is_served(start_auth):
    running = await start_auth(admin_user="admin", admin_password=CONFIGURED)
    claims = await running.host.infra.store.read_stream("username-admin")
    assert claims, "the name was claimed before the server answered"
    for name in ("admin", "ADMIN", "aDmIn"):
        taken = await failure(running.stub.Register(auth_pb2.RegisterRequest(
            username=name, password=SQUATTER_PASSWORD)))
        assert taken.status == grpc.StatusCode.ALREADY_EXISTS
    assert (await login(running.stub, "Admin", CONFIGURED)).user.is_admin


async def test_a_weak_configured_admin_password_stops_a_production_start(
        database_url, nats_url, tmp_path):
    settings = AuthSettings(environment="production", host="0.0.0.0", database_url=database_url,
                        nats_url=nats_url, var_dir=tmp_path, jwt_secret=STRONG,
                        secret_pepper=STRONG[::-1], admin_user="admin",
                        admin_password="Password2024!")
    host = ServiceHost("auth", settings, build)
    with pytest.raises(InvalidRegistrationError):
        await host.start("127.0.0.1:0")
    await host.stop()
