"""Subscriptions and quota over real gRPC, on SQLite and PostgreSQL, with a real NATS and
billing's clock moved by the test."""

import asyncio
import time
from datetime import UTC, datetime

import grpc
import pytest

from kernel.errors import from_rpc_error
from switchboard.billing.v1 import billing_pb2, events_pb2
from tests.billing.conftest import event_types, get_quota, renew, reserve_quota, stamp

FREE = {"billing_free_plan_type": 2, "billing_free_plan_quota": 10,
        "billing_free_plan_period": 1, "billing_free_plan_auto_renew": True}


async def failure(call):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return from_rpc_error(caught.value)


@pytest.fixture
def instance(unique):
    return f"inst-{unique}"


@pytest.fixture
async def billing(start_billing):
    return (await start_billing(**FREE)).stub


async def test_a_new_instance_is_on_the_free_plan(billing, instance, clock):
    clock.now = datetime(2024, 1, 1, 9, 30, 15, 123456, tzinfo=UTC)
    q = await get_quota(billing, instance)
    assert (q.instance_id, q.subscription_type, q.period) == (instance, "Standard", "Monthly")
    assert (q.monthly_quota, q.messages_used, q.messages_remaining) == (10, 0, 10)
    assert (q.usage_percentage, q.has_quota_available, q.is_subscription_active) == (0.0, True,
                                                                                     True)
    assert (q.is_active, q.is_expired, q.auto_renew) == (True, False, True)
    start, end = datetime(2024, 1, 1, 9, 30, 15, tzinfo=UTC), datetime(2024, 2, 1, 9, 30, 15,
                                                                       tzinfo=UTC)
    assert (stamp(q.start_date), stamp(q.end_date)) == (start, end)
    assert (stamp(q.period_start), stamp(q.period_end)) == (start, end)
    clock.advance(days=3)
    assert stamp((await get_quota(billing, instance)).start_date) == start


async def test_reserving_quota_counts_each_message_once(billing, instance):
    first = await reserve_quota(billing, instance, "a", "b")
    again = await reserve_quota(billing, instance, "b", "c", "a")
    assert (first.reserved, first.messages_used, first.messages_remaining) == (2, 2, 8)
    assert (again.reserved, again.already_reserved, again.messages_used) == (1, 2, 3)
    assert again.usage_percentage == 30.0
    assert (await get_quota(billing, instance)).messages_used == 3


async def test_quota_exceeded_is_failed_precondition_and_reserves_nothing(billing, instance):
    await reserve_quota(billing, instance, *[f"m{i}" for i in range(8)])
    error = await failure(reserve_quota(billing, instance, "x", "y", "z"))
    assert error.status == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "QUOTA_EXCEEDED"
    assert error.message == "Monthly message quota exceeded. Required: 3, Remaining: 2"
    assert error.metadata == {"required": "3", "remaining": "2", "monthly_quota": "10"}
    assert (await get_quota(billing, instance)).messages_used == 8
    assert (await reserve_quota(billing, instance, "x", "y")).messages_remaining == 0


async def test_fifty_concurrent_sends_against_a_quota_of_ten(billing, instance):
    results = await asyncio.gather(*(reserve_quota(billing, instance, f"c{i}")
                                     for i in range(50)), return_exceptions=True)
    assert_exactly_ten_won(results)
    assert (await get_quota(billing, instance)).messages_used == 10


async def test_fifty_concurrent_sends_across_two_processes(start_billing, instance):
    first, second = (await start_billing(**FREE)).stub, (await start_billing(**FREE)).stub
    await get_quota(first, instance)
    results = await asyncio.gather(*(reserve_quota(first if i % 2 else second, instance, f"p{i}")
                                     for i in range(50)), return_exceptions=True)
    assert_exactly_ten_won(results)
    assert (await get_quota(second, instance)).messages_used == 10


def assert_exactly_ten_won(results):
    won = [r for r in results if isinstance(r, billing_pb2.QuotaStatus)]
    lost = [from_rpc_error(r) for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 10 and len(lost) == 40, [r for r in results if isinstance(r, Exception)]
    assert {e.reason for e in lost} == {"QUOTA_EXCEEDED"}
    assert sorted(r.messages_used for r in won) == list(range(1, 11))


async def test_renewal_records_the_renewal_and_the_payment(start_billing, instance, clock):
    running = await start_billing(**FREE)
    await reserve_quota(running.stub, instance, "a", "b")
    clock.advance(days=10)
    q = await renew(running.stub, instance, subscription_type=3, period=2, monthly_quota=1000,
                    amount=49.99, auto_renew=False)
    assert (q.subscription_type, q.period, q.monthly_quota, q.messages_used) == ("Premium",
                                                                               "Yearly", 1000, 0)
    assert (q.auto_renew, q.is_active, stamp(q.start_date)) == (False, True, clock.now)
    assert stamp(q.end_date) == datetime(2025, 1, 11, tzinfo=UTC)
    assert stamp(q.period_end) == datetime(2024, 2, 11, tzinfo=UTC)
    types = await event_types(running.host, f"subscription-{instance}")
    assert types == ["SubscriptionStarted", "QuotaReserved", "SubscriptionRenewed", "RenewalPaid"]
    paid = (await running.host.infra.store.read_stream(f"subscription-{instance}"))[-1]
    assert events_pb2.RenewalPaid.FromString(paid.payload).amount_cents == 4999
    assert (await get_quota(running.stub, instance)).monthly_quota == 1000


@pytest.mark.parametrize(("fields", "word"), [
    ({"subscription_type": 0}, "subscriptionType"), ({"subscription_type": 5}, "subscriptionType"),
    ({"period": 3}, "period"), ({"period": 0}, "period"), ({"monthly_quota": -1}, "monthlyQuota"),
    ({"amount": -0.5}, "amount"), ({"amount": float("nan")}, "amount"),
])
async def test_renewal_with_bad_values_is_invalid_and_changes_nothing(start_billing, instance,
                                                                    fields, word):
    running = await start_billing(**FREE)
    await get_quota(running.stub, instance)
    error = await failure(renew(running.stub, instance, **fields))
    assert error.status == grpc.StatusCode.INVALID_ARGUMENT and error.reason == "INVALID_REQUEST"
    assert word in error.message and error.metadata == {"field": word}
    assert await event_types(running.host, f"subscription-{instance}") == ["SubscriptionStarted"]


async def test_a_period_with_auto_renew_renews_itself_on_access(billing, instance, clock):
    await reserve_quota(billing, instance, "a", "b", "c")
    clock.advance(days=31)
    q = await get_quota(billing, instance)
    assert (q.messages_used, q.is_active, q.is_expired) == (0, True, False)
    assert stamp(q.start_date) == datetime(2024, 2, 1, tzinfo=UTC)
    assert (await reserve_quota(billing, instance, "d")).messages_used == 1


async def test_a_period_without_auto_renew_expires_and_refuses_sends(start_billing, instance,
                                                                    clock):
    billing = (await start_billing(**{**FREE, "billing_free_plan_auto_renew": False})).stub
    await reserve_quota(billing, instance, "a")
    clock.advance(days=31)
    error = await failure(reserve_quota(billing, instance, "b"))
    assert error.reason == "QUOTA_EXCEEDED" and "expired" in error.message
    q = await get_quota(billing, instance)
    assert (q.is_active, q.is_expired, q.is_subscription_active, q.has_quota_available) == (
        False, True, False, False)
    await renew(billing, instance, monthly_quota=5)
    assert (await reserve_quota(billing, instance, "b")).messages_remaining == 4


async def test_the_renewal_worker_rolls_periods_over_without_traffic(start_billing, instance,
                                                                    clock):
    running = await start_billing(**FREE, billing_renewal_interval_seconds=0.05)
    other = f"{instance}-expiring"
    await get_quota(running.stub, instance)
    await renew(running.stub, other, auto_renew=False)
    clock.advance(days=62)
    stream, expiring = f"subscription-{instance}", f"subscription-{other}"
    deadline = time.monotonic() + 20
    while (await event_types(running.host, stream)).count("SubscriptionAutoRenewed") < 2 or \
            "SubscriptionExpired" not in await event_types(running.host, expiring):
        assert time.monotonic() < deadline, await event_types(running.host, stream)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # more passes change nothing
    assert (await event_types(running.host, stream)).count("SubscriptionAutoRenewed") == 2
    assert (await event_types(running.host, expiring)).count("SubscriptionExpired") == 1


async def test_release_quota_gives_it_back_once(billing, instance):
    await reserve_quota(billing, instance, "a", "b", "c")
    request = billing_pb2.ReleaseQuotaRequest(instance_id=instance, message_ids=["a", "b", "x"])
    first = await billing.ReleaseQuota(request)
    again = await billing.ReleaseQuota(request)
    assert (first.messages_used, again.messages_used) == (1, 1)
    error = await failure(reserve_quota(billing, instance, "a"))
    assert error.status == grpc.StatusCode.FAILED_PRECONDITION and error.reason == "INVALID_REQUEST"


async def test_an_id_reserved_by_another_instance_is_refused(billing, instance):
    await reserve_quota(billing, instance, "shared")
    error = await failure(reserve_quota(billing, f"{instance}-2", "shared"))
    assert error.reason == "INVALID_REQUEST"
    assert (await get_quota(billing, f"{instance}-2")).messages_used == 0


@pytest.mark.parametrize(("instance_id", "ids"), [("", ["a"]), ("x" * 129, ["a"]), ("i", [])])
async def test_bad_quota_requests_are_invalid(billing, instance_id, ids):
    error = await failure(reserve_quota(billing, instance_id, *ids))
    assert error.status == grpc.StatusCode.INVALID_ARGUMENT and error.reason == "INVALID_REQUEST"


async def test_quota_survives_a_restart(start_billing, instance):
    running = await start_billing(**FREE)
    await reserve_quota(running.stub, instance, "k1", "k2")
    await running.host.stop()
    again = (await start_billing(**FREE)).stub
    assert (await reserve_quota(again, instance, "k2", "k3")).messages_used == 3
