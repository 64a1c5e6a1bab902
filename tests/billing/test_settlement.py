"""Billing consumes real device and auth events from JetStream, published by a real relay."""

import asyncio
import time

from kernel.bus import stream_name
from services.billing.adapters.codec import billing_codec
from services.billing.domain.events import (
    CreditsGranted,
    CreditsReleased,
    CreditsReserved,
    CreditsSpent,
)
from services.billing.domain.holds import CREDIT, OPEN, REFUNDED
from services.billing.ports.events import SIGNUP_DURABLE
from switchboard.auth.v1 import events_pb2 as auth_events
from switchboard.device.v1 import events_pb2 as device_events
from tests.billing.conftest import balance, grant, hold_of, reserve

WAIT_SECONDS = 20.0


async def eventually(stub, user_id, expected):
    deadline = time.monotonic() + WAIT_SECONDS
    while (found := await balance(stub, user_id)) != expected:
        assert time.monotonic() < deadline, f"balance {found}, expected {expected}"
        await asyncio.sleep(0.05)


def sent(message_id, user_id):
    return device_events.MessageSent(message_id=message_id, user_id=user_id, device_id="d1",
                                     transport_message_id=f"t-{message_id}")


def failed(message_id, user_id, reason="number not on WhatsApp"):
    return device_events.MessageFailed(message_id=message_id, user_id=user_id, reason=reason)


async def test_message_sent_commits_the_reservation(billing, upstream, user_id, unique):
    device = await upstream("device")
    await grant(billing, user_id, 3)
    await reserve(billing, user_id, f"{unique}-a", f"{unique}-b")
    await device.emit("MessageSent", sent(f"{unique}-a", user_id))
    await eventually(billing, user_id, (1, 1))


async def test_message_failed_refunds_the_reservation(billing, upstream, user_id, unique):
    device = await upstream("device")
    await grant(billing, user_id, 3)
    await reserve(billing, user_id, f"{unique}-a", f"{unique}-b")
    await device.emit("MessageFailed", failed(f"{unique}-a", user_id))
    await eventually(billing, user_id, (2, 1))


async def test_a_failure_is_refunded_at_once_while_sent_messages_gather(
        start_billing, upstream, user_id, unique):
    """The settlement of sends lingers (here an hour, so it settles nothing in this
    test); a failure's refund comes at once all the same, from its own durable."""
    device = await upstream("device")  # so the refunding durable starts before the failure
    running = await start_billing(billing_settlement_linger_seconds=3600)
    billing = running.stub
    taken, lost = f"{unique}-taken", f"{unique}-lost"
    await grant(billing, user_id, 2)
    await reserve(billing, user_id, taken, lost)
    await device.emit("MessageSent", sent(taken, user_id))
    await device.emit("MessageFailed", failed(lost, user_id))
    await eventually(billing, user_id, (1, 1))
    assert (await hold_of(running.host, lost)).state == REFUNDED
    assert (await hold_of(running.host, taken)).state == OPEN


async def settled(host, message_id, kind=CREDIT):
    """Wait until billing has closed this reservation (committed or refunded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (await hold_of(host, message_id, kind)).state == OPEN:
        assert time.monotonic() < deadline, f"reservation {message_id} never settled"
        await asyncio.sleep(0.05)


async def test_settling_twice_changes_nothing_and_a_failure_after_a_send_refunds_once(
        start_billing, upstream, user_id, unique):
    running = await start_billing()
    billing, device = running.stub, await upstream("device")
    done, refunded, marker = f"{unique}-done", f"{unique}-refunded", f"{unique}-marker"
    await grant(billing, user_id, 3)
    await reserve(billing, user_id, done, refunded, marker)
    await device.emit("MessageSent", sent(done, user_id))
    await device.emit("MessageFailed", failed(refunded, user_id))
    await eventually(billing, user_id, (1, 1))
    # The same outcomes again (new event ids, so no broker dedup) and the opposite ones:
    # the far side failing `done` after it was sent refunds it, once; nothing brings the
    # refunded one back. Then a marker: once it is settled, everything before it was.
    for message_id in (done, refunded):
        await device.emit("MessageSent", sent(message_id, user_id))
        await device.emit("MessageFailed", failed(message_id, user_id))
        await device.emit("MessageFailed", failed(message_id, user_id))
    await device.emit("MessageFailed", failed(marker, user_id))
    await settled(running.host, marker)
    assert await balance(billing, user_id) == (3, 0)
    assert (await hold_of(running.host, done)).state == REFUNDED
    assert (await hold_of(running.host, refunded)).state == REFUNDED
    ledger = [billing_codec().decode(e)
              for e in await running.host.infra.store.read_stream(f"ledger-{user_id}")]
    assert [type(e) for e in ledger[:2]] == [CreditsGranted, CreditsReserved]
    spent = [e.message_ids for e in ledger if isinstance(e, CreditsSpent)]
    released = [m for e in ledger if isinstance(e, CreditsReleased) for m in e.message_ids]
    assert spent == [(done,)]  # failures are refunded by a durable of their own: the
    assert sorted(released) == sorted([done, refunded, marker])  # order may differ
    assert {type(e) for e in ledger[2:]} == {CreditsSpent, CreditsReleased}


async def test_outcomes_of_unknown_messages_are_ignored(billing, upstream, user_id, unique):
    device = await upstream("device")
    await grant(billing, user_id, 2)
    await reserve(billing, user_id, f"{unique}-mine")
    await device.emit("MessageFailed", failed(f"{unique}-never-reserved", user_id))
    await device.emit("MessageSent", sent(f"{unique}-mine", user_id))
    await eventually(billing, user_id, (1, 0))


async def test_consumer_waits_for_the_device_stream_then_settles(start_billing, upstream,
                                                                 user_id, unique):
    billing = (await start_billing()).stub  # the device stream may not exist yet
    await grant(billing, user_id, 1)
    await reserve(billing, user_id, f"{unique}-late")
    device = await upstream("device")
    await device.emit("MessageFailed", failed(f"{unique}-late", user_id))
    await eventually(billing, user_id, (1, 0))


async def consumed(js, service, durable):
    """Wait until a durable consumer has everything in its stream delivered and acked."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        info = await js.consumer_info(stream_name(service), durable)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        assert time.monotonic() < deadline, f"{durable} still busy: {info}"
        await asyncio.sleep(0.05)


async def test_new_users_get_signup_credits_once(start_billing, upstream, user_id):
    auth = await upstream("auth")
    running = await start_billing(signup_credits=25)
    registered = auth_events.UserRegistered(user_id=user_id, username=f"u{user_id}")
    await auth.emit("UserRegistered", registered)
    await eventually(running.stub, user_id, (25, 0))
    await auth.emit("UserRegistered", registered)
    await auth.emit("UserRegistered", auth_events.UserRegistered(user_id=user_id + 1))
    await eventually(running.stub, user_id + 1, (25, 0))
    await consumed(auth.relay.js, "auth", SIGNUP_DURABLE)
    assert await balance(running.stub, user_id) == (25, 0)
    assert len(await running.host.infra.store.read_stream(f"ledger-{user_id}")) == 1
