"""Reservations of concurrent sends in one call: billing's ReserveCreditsMany and
ReserveQuotaMany, and messaging's billing and quota clients that gather reserves into
them. Real billing over real gRPC, SQLite and PostgreSQL."""

import asyncio

import grpc
import pytest
from google.rpc import status_pb2

from kernel import context
from kernel.errors import from_status
from kernel.rpc import channel
from services.messaging.adapters.billing import BillingClient
from services.messaging.adapters.quota import QuotaClient
from services.messaging.domain.errors import RefusedByServiceError
from switchboard.billing.v1 import billing_pb2
from tests.billing.conftest import balance, get_quota, grant, reserve, reserve_quota

FREE_TEN = {"billing_free_plan_quota": 10}


def asked(user_id: int, *ids: str, correlation_id: str = "") -> billing_pb2.ReserveCreditsRequest:
    return billing_pb2.ReserveCreditsRequest(user_id=user_id, message_ids=ids,
                                             correlation_id=correlation_id)


async def test_each_request_gets_the_outcome_its_own_call_would_have(billing, user_id):
    rich, poor = user_id, user_id + 1
    await grant(billing, rich, 5)
    await reserve(billing, rich, "before")
    many = await billing.ReserveCreditsMany(billing_pb2.ReserveCreditsManyRequest(requests=[
        asked(rich, "m1", "m2"), asked(poor, "p1"), asked(rich, "before"),
        asked(rich, "x" * 129)]))
    first, refused, again, invalid = many.outcomes
    assert (first.reserved.reserved, first.reserved.already_reserved) == (2, 0)
    assert (again.reserved.reserved, again.reserved.already_reserved) == (0, 1)
    short = from_status(status_pb2.Status.FromString(refused.refused))
    assert (short.status, short.reason, short.metadata) == (
        grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_CREDITS",
        {"required": "1", "available": "0"})
    bad = from_status(status_pb2.Status.FromString(invalid.refused))
    assert (bad.status, bad.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST")
    assert await balance(billing, rich) == (2, 3)
    assert await balance(billing, poor) == (0, 0)


async def test_concurrent_reserves_go_together_each_answered_as_its_own(start_billing,
                                                                       user_id):
    running = await start_billing()
    await grant(running.stub, user_id, 30)
    chan = channel(running.address)
    client = BillingClient(chan)

    async def send(n: int) -> int:
        context.begin(f"corr-{n}")
        return await client.reserve(user_id if n % 4 else user_id + 1, [f"g{n}"])

    try:
        results = await asyncio.gather(*(send(n) for n in range(40)), return_exceptions=True)
    finally:
        await chan.close()
    won = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, RefusedByServiceError)]
    assert len(won) == 30 and len(refused) == 10, results  # user + 1 has no credits
    assert all(r.code == "INSUFFICIENT_CREDITS" for r in refused)
    assert sorted(won) == list(range(30))  # each saw the balance after its own reserve
    assert client.calls < 40  # gathered: fewer calls than reserves
    assert await balance(running.stub, user_id) == (0, 30)
    events = await running.host.infra.store.read_all(0, limit=10_000)
    reserved = {e.meta["correlation_id"] for e in events if e.event_type == "CreditsReserved"}
    assert reserved == {f"corr-{n}" for n in range(40) if n % 4}  # each its own request's


def quota_asked(instance_id: str, *ids: str) -> billing_pb2.ReserveQuotaRequest:
    return billing_pb2.ReserveQuotaRequest(instance_id=instance_id, message_ids=ids)


async def test_each_quota_request_gets_the_outcome_its_own_call_would_have(start_billing,
                                                                          unique):
    billing = (await start_billing(**FREE_TEN)).stub
    first, other = f"inst-{unique}", f"inst-{unique}-2"
    await reserve_quota(billing, first, "before")
    many = await billing.ReserveQuotaMany(billing_pb2.ReserveQuotaManyRequest(requests=[
        quota_asked(first, "m1", "m2"), quota_asked(other, *[f"o{n}" for n in range(11)]),
        quota_asked(first, "before"), quota_asked("", "x")]))
    reserved, exceeded, again, invalid = many.outcomes
    assert (reserved.reserved.reserved, reserved.reserved.instance_id) == (2, first)
    assert (again.reserved.reserved, again.reserved.already_reserved) == (0, 1)
    over = from_status(status_pb2.Status.FromString(exceeded.refused))
    assert (over.status, over.reason, over.metadata) == (
        grpc.StatusCode.FAILED_PRECONDITION, "QUOTA_EXCEEDED",
        {"required": "11", "remaining": "10", "monthly_quota": "10"})
    bad = from_status(status_pb2.Status.FromString(invalid.refused))
    assert (bad.status, bad.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST")
    assert (await get_quota(billing, first)).messages_used == 3
    assert (await get_quota(billing, other)).messages_used == 0


async def test_concurrent_quota_reserves_go_together_each_answered_as_its_own(start_billing,
                                                                             unique):
    running = await start_billing(**FREE_TEN)
    instance = f"inst-{unique}"
    await get_quota(running.stub, instance)  # the free plan started
    chan = channel(running.address)
    client = QuotaClient(chan)

    async def send(n: int) -> int:
        context.begin(f"corr-{n}")
        return (await client.reserve(instance, 7, [f"q{n}"])).used

    try:
        results = await asyncio.gather(*(send(n) for n in range(30)), return_exceptions=True)
    finally:
        await chan.close()
    won = {n: r for n, r in enumerate(results) if isinstance(r, int)}
    refused = [r for r in results if isinstance(r, RefusedByServiceError)]
    assert len(won) == 10 and len(refused) == 20, results
    assert all(r.code == "QUOTA_EXCEEDED" for r in refused)
    assert sorted(won.values()) == list(range(1, 11))  # each saw the quota after its own
    assert client.calls < 30  # gathered: fewer calls than reserves
    assert (await get_quota(running.stub, instance)).messages_used == 10
    events = await running.host.infra.store.read_all(0, limit=10_000)
    reserved = {e.meta["correlation_id"] for e in events if e.event_type == "QuotaReserved"}
    assert reserved == {f"corr-{n}" for n in won}  # each its own request's


@pytest.mark.parametrize("reserves", [1, 5])
@pytest.mark.parametrize("kind", ["credits", "quota"])
async def test_an_unreachable_billing_fails_every_gathered_reserve_alike(reserves, kind,
                                                                        user_id):
    chan = channel("127.0.0.1:1")
    credits, quota = BillingClient(chan, timeout=0.5), QuotaClient(chan, timeout=0.5)

    async def one(n: int) -> object:
        if kind == "credits":
            return await credits.reserve(user_id, [f"u{n}"])
        return await quota.reserve("inst-1", user_id, [f"u{n}"])

    try:
        results = await asyncio.gather(*(one(n) for n in range(reserves)),
                                       return_exceptions=True)
    finally:
        await chan.close()
    assert all(type(r).__name__ == "DependencyUnavailableError" for r in results), results
