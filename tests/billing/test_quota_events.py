"""Billing consumes real auth and device events for subscriptions and quota: instances
start and end their subscriptions, message outcomes settle quota reservations."""

import asyncio
import time

import grpc
import pytest

from kernel.errors import from_rpc_error
from services.billing.domain.holds import COMMITTED, OPEN, QUOTA, REFUNDED
from switchboard.auth.v1 import events_pb2 as auth_events
from switchboard.device.v1 import events_pb2 as device_events
from tests.billing.conftest import event_types, get_quota, hold_of, renew, reserve_quota

WAIT_SECONDS = 20.0
FREE = {"billing_free_plan_type": 1, "billing_free_plan_quota": 5,
        "billing_free_plan_period": 1, "billing_free_plan_auto_renew": True}


async def until(check, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def instance(unique):
    return f"inst-{unique}"


def created(instance_id, user_id):
    return auth_events.InstanceCreated(instance_id=instance_id, id=1, user_id=user_id,
                                       instance_name="Main WhatsApp", public_key="pk",
                                       secret_hash="hash")


async def test_instance_created_starts_the_free_plan_once(start_billing, upstream, instance,
                                                         user_id):
    running, auth = await start_billing(**FREE), await upstream("auth")
    stream = f"subscription-{instance}"
    await auth.emit("InstanceCreated", created(instance, user_id))
    await until(lambda: _has(running.host, stream, "SubscriptionStarted"), "started")
    await auth.emit("InstanceCreated", created(instance, user_id))
    marker = f"{instance}-marker"
    await auth.emit("InstanceCreated", created(marker, user_id))
    await until(lambda: _has(running.host, f"subscription-{marker}", "SubscriptionStarted"),
                "marker started")
    assert await event_types(running.host, stream) == ["SubscriptionStarted"]
    q = await get_quota(running.stub, instance)
    assert (q.user_id, q.subscription_type, q.monthly_quota, q.is_active) == (user_id, "Basic",
                                                                             5, True)


async def test_instance_deleted_ends_the_subscription(start_billing, upstream, instance,
                                                     user_id):
    running, auth = await start_billing(**FREE), await upstream("auth")
    await auth.emit("InstanceCreated", created(instance, user_id))
    await auth.emit("InstanceDeleted", auth_events.InstanceDeleted(instance_id=instance,
                                                                   user_id=user_id))
    stream = f"subscription-{instance}"
    await until(lambda: _has(running.host, stream, "SubscriptionCancelled"), "cancelled")
    q = await get_quota(running.stub, instance)
    assert (q.is_active, q.is_expired, q.has_quota_available) == (False, True, False)
    with pytest.raises(grpc.aio.AioRpcError) as sending:
        await reserve_quota(running.stub, instance, "m")
    assert from_rpc_error(sending.value).reason == "QUOTA_EXCEEDED"
    with pytest.raises(grpc.aio.AioRpcError) as renewing:
        await renew(running.stub, instance)
    assert from_rpc_error(renewing.value).status == grpc.StatusCode.NOT_FOUND


async def _has(host, stream, event_type):
    return event_type in await event_types(host, stream)


def sent(message_id):
    return device_events.MessageSent(message_id=message_id, device_id="d1", user_id=1,
                                     transport_message_id=f"t-{message_id}")


def failed(message_id):
    return device_events.MessageFailed(message_id=message_id, reason="not on WhatsApp",
                                       user_id=1)


async def test_failed_messages_give_their_quota_back_and_sent_ones_keep_it(
        start_billing, upstream, instance, unique):
    running, device = await start_billing(**FREE), await upstream("device")
    ok, bad = f"{unique}-ok", f"{unique}-bad"
    await reserve_quota(running.stub, instance, ok, bad)
    await device.emit("MessageSent", sent(ok))
    await device.emit("MessageFailed", failed(bad))
    await until(lambda: _state_is(running.host, bad, REFUNDED), "refunded")
    await until(lambda: _state_is(running.host, ok, COMMITTED), "committed")
    assert (await get_quota(running.stub, instance)).messages_used == 1
    await device.emit("MessageFailed", failed(bad))  # twice: changes nothing
    marker = f"{unique}-marker"
    await reserve_quota(running.stub, instance, marker)
    await device.emit("MessageFailed", failed(marker))
    await until(lambda: _state_is(running.host, marker, REFUNDED), "marker refunded")
    assert (await get_quota(running.stub, instance)).messages_used == 1


async def test_a_sent_message_the_far_side_fails_later_gives_its_quota_back_once(
        start_billing, upstream, instance, unique):
    running, device = await start_billing(**FREE), await upstream("device")
    ok = f"{unique}-ok"
    await reserve_quota(running.stub, instance, ok)
    await device.emit("MessageSent", sent(ok))
    await until(lambda: _state_is(running.host, ok, COMMITTED), "committed")
    for _ in range(2):  # e.g. Meta's `failed` status after its 200, redelivered
        await device.emit("MessageFailed", failed(ok))
    await device.emit("MessageSent", sent(ok))  # nothing brings it back
    await until(lambda: _state_is(running.host, ok, REFUNDED), "refunded")
    marker = f"{unique}-marker"
    await reserve_quota(running.stub, instance, marker)
    await device.emit("MessageFailed", failed(marker))
    await until(lambda: _state_is(running.host, marker, REFUNDED), "marker refunded")
    assert (await get_quota(running.stub, instance)).messages_used == 0


async def test_a_failure_after_the_period_rolled_over_gives_nothing_back(
        start_billing, upstream, instance, unique, clock):
    running, device = await start_billing(**FREE), await upstream("device")
    old, new = f"{unique}-old", f"{unique}-new"
    await reserve_quota(running.stub, instance, old)
    clock.advance(days=32)
    await reserve_quota(running.stub, instance, new)
    await device.emit("MessageFailed", failed(old))
    await until(lambda: _state_is(running.host, old, REFUNDED), "old refunded")
    assert (await get_quota(running.stub, instance)).messages_used == 1
    assert (await hold_of(running.host, new, QUOTA)).state == OPEN


async def _state_is(host, message_id, state):
    return (await hold_of(host, message_id, QUOTA)).state == state
