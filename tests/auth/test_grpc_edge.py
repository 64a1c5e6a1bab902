"""The gRPC edge against the whole real stack (four services, real NATS, the gateway):
a user token counts for what its user is *now*. A disabled user's still-valid token stops
working within the standing cache (5 s) at every service, and at once over REST; a demoted
admin's old token loses its admin rights at once; `granted_by` is the caller's; user
tokens are refused unless the setting opens the gRPC API to them; user calls are
rate-limited per user."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from nats.aio.client import Client as NATS

from kernel.config import Settings
from kernel.rpc import channel
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc, events_pb2
from switchboard.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from tests.auth.gateway_support import (
    BOSS,
    BOSS_PASSWORD,
    PASSWORD,
    Api,
    api_stack,
    error_of,
)
from tests.auth.support import failure

CACHE = 5.0  # the documented default of user_standing_cache_seconds
NUMBER = "27821234567"


@dataclass
class Direct:
    """Plain channels to the services: each call brings only the metadata it is given."""

    auth: auth_pb2_grpc.AuthServiceStub
    billing: billing_pb2_grpc.BillingServiceStub
    messaging: messaging_pb2_grpc.MessagingServiceStub


@pytest.fixture
async def stack(database_url, fresh_nats_url, tmp_path) -> AsyncIterator[tuple[Api, Direct]]:
    async with api_stack(database_url, fresh_nats_url, tmp_path, grpc_user_tokens=True,
                         rate_limit_auth=0) as api, direct(api.settings) as stubs:
        yield api, stubs


class direct:  # noqa: N801 - used as `async with direct(settings)`
    def __init__(self, settings: Settings) -> None:
        self.channels = [grpc.aio.insecure_channel(settings.service_addr(name))
                         for name in ("auth", "billing", "messaging")]

    async def __aenter__(self) -> Direct:
        auth, billing, messaging = self.channels
        return Direct(auth_pb2_grpc.AuthServiceStub(auth),
                      billing_pb2_grpc.BillingServiceStub(billing),
                      messaging_pb2_grpc.MessagingServiceStub(messaging))

    async def __aexit__(self, *_: object) -> None:
        for chan in self.channels:
            await chan.close()


def bearer(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", headers["Authorization"]),)


async def refused_after(call, cached_at: float, cache: float) -> grpc.aio.AioRpcError:
    """Make `call()` until it fails; a call admitted though it started more than `cache`
    seconds after the standing was cached (at or before `cached_at`) fails the test. The
    verdict rests on when each call started, so a slow answer on a busy machine does not
    change it."""
    while True:
        started = time.monotonic()
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            return exc
        assert started - cached_at <= cache, f"admitted {started - cached_at:.2f} s on"
        await asyncio.sleep(0.2)


async def test_a_disabled_user_s_valid_token_stops_at_every_edge(stack):
    api, rpc = stack
    user_id, headers = await api.user("leaver")
    boss = await api.boss()
    assert (await api.http.post(f"/api/admin/users/{user_id}/credits", headers=boss,
                                json={"amount": 10})).status_code == 200
    token = bearer(headers)

    def send():
        return rpc.messaging.SendMessage(messaging_pb2.SendMessageRequest(
            user_id=user_id, number=NUMBER, message="hi"), metadata=token)

    assert (await send()).remaining_credits == 9  # the direct gRPC API works for users
    cached_at = time.monotonic()
    disabled = await api.http.patch(f"/api/admin/users/{user_id}", headers=boss,
                                    json={"disabled": True})
    assert disabled.status_code == 200
    rest = await api.http.post("/api/messages/send-message", headers=headers,
                               json={"number": NUMBER, "message": "hi"})
    assert error_of(rest) == (401, "UNAUTHORIZED")  # REST: at once
    def read():  # messaging cached the user's standing at the send above
        return rpc.messaging.ListTemplates(messaging_pb2.ListTemplatesRequest(
            user_id=user_id), metadata=token)

    error = await refused_after(read, cached_at, CACHE)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    left = (await api.http.get(f"/api/admin/users/{user_id}", headers=boss)).json()
    assert (await failure(send())).status == grpc.StatusCode.UNAUTHENTICATED
    after = (await api.http.get(f"/api/admin/users/{user_id}", headers=boss)).json()
    assert after["credits"] == left["credits"] == 9  # nothing sent nor charged
    balance = await failure(rpc.billing.GetBalance(billing_pb2.GetBalanceRequest(
        user_id=user_id), metadata=token))
    assert balance.status == grpc.StatusCode.UNAUTHENTICATED


async def test_a_demoted_admin_s_old_token_cannot_grant_nor_re_promote(stack):
    api, rpc = stack
    eve_id, _ = await api.user("eve")
    boss = await api.boss()
    assert (await api.http.patch(f"/api/admin/users/{eve_id}", headers=boss,
                                 json={"is_admin": True})).status_code == 200
    eve = bearer(await api.token("eve"))  # a token claiming admin, for 24 h
    granted = await rpc.billing.GrantCredits(billing_pb2.GrantCreditsRequest(
        user_id=eve_id, amount=5), metadata=eve)
    assert granted.available == 5  # while she is an admin, her token may grant
    assert (await api.http.patch(f"/api/admin/users/{eve_id}", headers=boss,
                                 json={"is_admin": False})).status_code == 200

    grant = await failure(rpc.billing.GrantCredits(billing_pb2.GrantCreditsRequest(
        user_id=eve_id, amount=5_000_000), metadata=eve))  # admin rights: asked afresh
    assert (grant.status, grant.reason) == (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    promote = await failure(rpc.auth.UpdateUser(auth_pb2.UpdateUserRequest(
        user_id=eve_id, is_admin=True), metadata=eve))
    assert (promote.status, promote.reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                                "FORBIDDEN")
    listed = await failure(rpc.auth.ListUsers(auth_pb2.ListUsersRequest(), metadata=eve))
    assert listed.status == grpc.StatusCode.PERMISSION_DENIED
    now = (await api.http.get(f"/api/admin/users/{eve_id}", headers=boss)).json()
    assert (now["is_admin"], now["credits"]) == (False, 5)


async def test_granted_by_is_the_caller_not_what_the_request_claims(stack):
    api, rpc = stack
    user_id, _ = await api.user("receiver")
    session = await api.login(BOSS, BOSS_PASSWORD)
    boss_id, boss_headers = session["user_id"], {"Authorization":
                                                 f"Bearer {session['access_token']}"}
    await rpc.billing.GrantCredits(billing_pb2.GrantCreditsRequest(
        user_id=user_id, amount=7, granted_by=user_id), metadata=bearer(boss_headers))
    assert (await api.http.post(f"/api/admin/users/{user_id}/credits", headers=boss_headers,
                                json={"amount": 3})).status_code == 200
    grants = await ledger_grants(api.settings.nats_url, user_id, 2)
    assert [(g.amount, g.granted_by) for g in grants] == [(7, boss_id), (3, boss_id)]


async def ledger_grants(nats_url: str, user_id: int, count: int) -> list:
    nc = NATS()
    await nc.connect(nats_url)
    found = []
    try:
        sub = await nc.jetstream().subscribe("sb.billing.CreditsGranted", ordered_consumer=True)
        async with asyncio.timeout(10):
            while len(found) < count:
                event = events_pb2.CreditsGranted.FromString((await sub.next_msg(10)).data)
                if event.user_id == user_id:
                    found.append(event)
    finally:
        await nc.close()
    return found


async def test_user_calls_share_the_user_s_budget_per_class(database_url, fresh_nats_url,
                                                             tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path, grpc_user_tokens=True,
                         rate_limit_auth=0, rate_limit_status=4,
                         rate_limit_window_seconds=3600) as api, direct(api.settings) as rpc:
        user_id, headers = await api.user("counted")
        _, other = await api.user("uncounted")
        assert (await api.http.get("/api/users/user/credits", headers=headers)).status_code \
            == 200
        read = billing_pb2.GetBalanceRequest(user_id=user_id)
        for _ in range(3):
            await rpc.billing.GetBalance(read, metadata=bearer(headers))
        error = await failure(rpc.billing.GetBalance(read, metadata=bearer(headers)))
        assert (error.status, error.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED,
                                                "RATE_LIMITED")
        assert int(error.metadata["retry_after"]) >= 1
        rest = await api.http.get("/api/users/user/credits", headers=headers)
        assert error_of(rest) == (429, "RATE_LIMITED")
        assert (await api.http.get("/api/users/user/credits", headers=other)).status_code \
            == 200


async def test_by_default_no_service_takes_a_user_token(database_url, fresh_nats_url,
                                                        tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path) as api, \
            direct(api.settings) as rpc:
        user_id, headers = await api.user("knocker")
        token = bearer(headers)
        calls = [rpc.messaging.SendMessage(messaging_pb2.SendMessageRequest(
                     user_id=user_id, number=NUMBER, message="hi"), metadata=token),
                 rpc.billing.GetBalance(billing_pb2.GetBalanceRequest(user_id=user_id),
                                        metadata=token),
                 rpc.auth.GetUser(auth_pb2.GetUserRequest(user_id=user_id), metadata=token)]
        for call in calls:
            error = await failure(call)
            assert (error.status, error.reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                                    "FORBIDDEN")
        sign_in = await failure(rpc.auth.Login(auth_pb2.LoginRequest(
            username="knocker", password="x" * 12)))
        assert sign_in.status == grpc.StatusCode.UNAUTHENTICATED
        # ...while the REST API, whose gateway calls with its service token, works.
        sent = await api.http.post("/api/messages/send-message", headers=headers,
                                   json={"number": NUMBER, "message": "hi"})
        assert error_of(sent) == (403, "INSUFFICIENT_CREDITS")


async def test_a_direct_caller_cannot_pick_the_address_its_failures_count_against(stack):
    api, rpc = stack
    await api.register("target")
    for n in range(5):  # each claims another address; all are this peer's
        wrong = await failure(rpc.auth.Login(auth_pb2.LoginRequest(
            username="target", password="not-the-password", client_address=f"10.0.0.{n}")))
        assert wrong.reason == "UNAUTHORIZED"
    again = await failure(rpc.auth.Login(auth_pb2.LoginRequest(
        username="target", password="not-the-password", client_address="10.0.0.99")))
    assert (again.status, again.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED,
                                            "RATE_LIMITED")
    # A service (as the gateway does) names the client's address: the owner, elsewhere.
    async with channel(api.settings.auth_addr, api.settings) as chan:
        signed = await auth_pb2_grpc.AuthServiceStub(chan).Login(auth_pb2.LoginRequest(
            username="target", password=PASSWORD, client_address="203.0.113.5"))
    assert signed.user.username == "target"
