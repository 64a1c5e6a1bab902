"""Internal gRPC auth (kernel/guard.py at every service's edge), against real auth and
billing services: calls need a bearer token; user tokens only where the setting opens the
gRPC API to them, then acting for their own user only; a service token signed under a
retired key stops working once the key is removed."""

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kernel.host import ServiceHost
from kernel.tokens import KeyRing, issue_service_token
from launcher import natsserver
from services.billing.bootstrap import build as build_billing
from services.billing.settings import BillingSettings
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc
from tests.auth.conftest import ADMIN, ADMIN_PASSWORD, SECRET
from tests.auth.support import PASSWORD, failure, new_user

NEXT_SECRET = "the-next-signing-secret-0123456789abcdefghij"


def bearer(token):
    return (("authorization", f"Bearer {token}"),)


async def sign_in(stub, username, password=PASSWORD):
    return (await stub.Login(auth_pb2.LoginRequest(username=username,
                                                   password=password))).access_token


@pytest.fixture
async def plain(start_auth):
    """A running auth service open to user tokens, and a channel that attaches no token
    of its own."""
    running = await start_auth(grpc_user_tokens=True, rate_limit_auth=0)  # shared NATS
    async with grpc.aio.insecure_channel(running.addr) as chan:
        yield running, auth_pb2_grpc.AuthServiceStub(chan), chan


async def test_calls_without_a_valid_token_are_unauthenticated(plain):
    _, stub, _ = plain
    for metadata in ((), bearer("not-a-token"), (("authorization", "Basic cm9vdA=="),)):
        error = await failure(stub.GetUser(auth_pb2.GetUserRequest(user_id=1),
                                           metadata=metadata))
        assert (error.status, error.reason) == (grpc.StatusCode.UNAUTHENTICATED,
                                                "UNAUTHORIZED")


async def test_sign_in_and_health_need_no_token(plain):
    _, stub, chan = plain
    await new_user(stub, "newcomer")
    assert await sign_in(stub, "newcomer")
    reply = await health_pb2_grpc.HealthStub(chan).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_user_token_acts_for_its_own_user_only(plain):
    _, stub, _ = plain
    me, other = await new_user(stub, "myself"), await new_user(stub, "other")
    token = bearer(await sign_in(stub, "myself"))
    assert (await stub.GetUser(auth_pb2.GetUserRequest(user_id=me), metadata=token)).user_id == me
    made = await stub.CreateInstance(auth_pb2.CreateInstanceRequest(
        user_id=me, instance_name="mine"), metadata=token)
    assert made.instance.user_id == me
    for call in (stub.GetUser(auth_pb2.GetUserRequest(user_id=other), metadata=token),
                 stub.CreateInstance(auth_pb2.CreateInstanceRequest(
                     user_id=other, instance_name="theirs"), metadata=token),
                 stub.ListInstances(auth_pb2.ListInstancesRequest(user_id=me, all_users=True),
                                    metadata=token),
                 stub.EnsureAdmin(auth_pb2.EnsureAdminRequest(username="myself",
                                                              password=PASSWORD),
                                  metadata=token),
                 stub.UpdateUser(auth_pb2.UpdateUserRequest(user_id=me, is_admin=True),
                                 metadata=token),
                 stub.AuthenticateInstance(auth_pb2.AuthenticateInstanceRequest(
                     public_key=made.instance.public_key, secret_key=made.secret_key),
                     metadata=token)):
        error = await failure(call)
        assert (error.status, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")


async def test_an_admin_token_may_manage_users(plain):
    _, stub, _ = plain
    user = await new_user(stub, "managed")
    admin = bearer(await sign_in(stub, ADMIN, ADMIN_PASSWORD))
    changed = await stub.UpdateUser(auth_pb2.UpdateUserRequest(user_id=user, is_admin=True),
                                    metadata=admin)
    assert changed.is_admin
    # The acting admin is the token's, whatever the request claims: no self-lockout.
    error = await failure(stub.UpdateUser(auth_pb2.UpdateUserRequest(
        user_id=1, acting_user_id=0, is_admin=False), metadata=admin))
    assert error.reason == "INVALID_REQUEST"


async def test_by_default_services_take_service_tokens_only(start_auth):
    running = await start_auth()
    await new_user(running.stub, "direct")  # the test's channel carries a service token
    token = bearer(await sign_in(running.stub, "direct"))
    async with grpc.aio.insecure_channel(running.addr) as chan:
        stub = auth_pb2_grpc.AuthServiceStub(chan)
        error = await failure(stub.GetUser(auth_pb2.GetUserRequest(user_id=2),
                                           metadata=token))
        assert (error.status, error.reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                                "FORBIDDEN")
        assert "SWITCHBOARD_GRPC_USER_TOKENS" in error.message
        error = await failure(stub.Login(auth_pb2.LoginRequest(username="direct",
                                                               password=PASSWORD)))
        assert error.status == grpc.StatusCode.UNAUTHENTICATED
        reply = await health_pb2_grpc.HealthStub(chan).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_an_expired_service_token_is_refused(plain):
    _, stub, _ = plain
    stale, _ = issue_service_token(KeyRing("k1", SECRET, {}), "old", time.time() - 120, 60)
    error = await failure(stub.GetUser(auth_pb2.GetUserRequest(user_id=1),
                                       metadata=bearer(stale)))
    assert error.status == grpc.StatusCode.UNAUTHENTICATED


async def test_a_rotated_key_verifies_until_it_is_removed(start_auth):
    old_ring = KeyRing("k1", SECRET, {})
    old_service, _ = issue_service_token(old_ring, "gateway", time.time(), 600)
    rotated = await start_auth(jwt_secret=NEXT_SECRET, jwt_kid="k2",
                               jwt_previous_keys={"k1": SECRET})
    retired = await start_auth(jwt_secret=NEXT_SECRET, jwt_kid="k2")
    request = auth_pb2.GetUserRequest(user_id=1)
    assert (await rotated.stub.GetUser(request, metadata=bearer(old_service))).username == ADMIN
    error = await failure(retired.stub.GetUser(request, metadata=bearer(old_service)))
    assert error.status == grpc.StatusCode.UNAUTHENTICATED
    assert (await retired.stub.GetUser(request)).username == ADMIN  # its own k2 token


async def test_internal_auth_can_be_switched_off(start_auth):
    running = await start_auth(internal_auth=False)
    async with grpc.aio.insecure_channel(running.addr) as chan:
        user = await auth_pb2_grpc.AuthServiceStub(chan).GetUser(
            auth_pb2.GetUserRequest(user_id=1))
    assert user.username == ADMIN


async def test_other_services_check_user_tokens_the_same_way(start_auth, database_url,
                                                              nats_url):
    running = await start_auth()
    auth = running.stub
    me = await new_user(auth, "payer")
    user = bearer(await sign_in(auth, "payer"))
    admin = bearer(await sign_in(auth, ADMIN, ADMIN_PASSWORD))
    host = ServiceHost("billing", BillingSettings(database_url=database_url, nats_url=nats_url,
                                           jwt_secret=SECRET, grpc_user_tokens=True,
                                           auth_addr=running.addr), build_billing)
    port = await host.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
            billing = billing_pb2_grpc.BillingServiceStub(chan)
            granted = await billing.GrantCredits(billing_pb2.GrantCreditsRequest(
                user_id=me, amount=5, granted_by=1), metadata=admin)
            assert granted.available == 5
            own = await billing.GetBalance(billing_pb2.GetBalanceRequest(user_id=me),
                                           metadata=user)
            assert own.available == 5
            for call in (billing.GetBalance(billing_pb2.GetBalanceRequest(user_id=1),
                                            metadata=user),
                         billing.GrantCredits(billing_pb2.GrantCreditsRequest(
                             user_id=me, amount=100), metadata=user),
                         billing.ReserveCredits(billing_pb2.ReserveCreditsRequest(
                             user_id=me, message_ids=["m1"]), metadata=user)):
                assert (await failure(call)).status == grpc.StatusCode.PERMISSION_DENIED
            assert (await failure(billing.GetBalance(billing_pb2.GetBalanceRequest(
                user_id=me)))).status == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await host.stop()


async def test_a_user_token_is_refused_while_auth_cannot_vouch_for_it(start_auth, database_url,
                                                                       nats_url):
    auth = (await start_auth()).stub
    me = await new_user(auth, "orphan")
    user = bearer(await sign_in(auth, "orphan"))
    nowhere = f"127.0.0.1:{natsserver.free_port()}"  # no auth service listens there
    host = ServiceHost("billing", BillingSettings(database_url=database_url, nats_url=nats_url,
                                           jwt_secret=SECRET, grpc_user_tokens=True,
                                           auth_addr=nowhere), build_billing)
    port = await host.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
            error = await failure(billing_pb2_grpc.BillingServiceStub(chan).GetBalance(
                billing_pb2.GetBalanceRequest(user_id=me), metadata=user))
        assert (error.status, error.reason) == (grpc.StatusCode.UNAVAILABLE,
                                                "SERVICE_UNAVAILABLE")
    finally:
        await host.stop()
