"""Dispatch over a real store (SQLite and PostgreSQL) and the simulator: one claim, one
message in the recipient's inbox, whatever is redelivered or resent."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import event

from kernel.aggregate import Repository
from services.device.adapters.simulator import SimulatorTransport
from services.device.app.dispatch import Dispatcher
from services.device.app.pacing import PacingPolicy
from services.device.app.pool import ensure_pool
from services.device.domain.commands import DispatchMessage
from services.device.domain.dispatch import Dispatch
from services.device.domain.errors import NoDeviceAvailableError
from tests.device.conftest import Parts, wire

LIFECYCLE = ["MessageDispatched", "MessageSent", "MessageDelivered", "MessageRead"]
TO = "447700900123"


def queued(message_id: str, channel: str = "pool", instance_id: str = "") -> DispatchMessage:
    return DispatchMessage(message_id, 42, TO, f"body of {message_id}", channel, instance_id)


async def settled(parts: Parts, message_id: str) -> list[str]:
    await asyncio.wait_for(parts.sim.idle(), 5)
    return await parts.types(f"dispatch-{message_id}")


async def test_a_pooled_message_goes_through_its_whole_lifecycle(parts, unique):
    await ensure_pool(parts.deps, 2, 0, parts.sim.scan)
    await parts.dispatcher.dispatch(queued(unique))
    assert await settled(parts, unique) == LIFECYCLE
    [received] = parts.sim.inbox(TO)
    assert (received.transport_message_id, received.body) == (f"sb-{unique}",
                                                              f"body of {unique}")
    stored = await parts.store.read_stream(f"dispatch-{unique}")
    events = [parts.dispatches.codec.decode(e) for e in stored]
    assert {e.user_id for e in events} == {42}


async def test_the_same_message_twice_at_once_is_sent_once(parts, unique):
    await ensure_pool(parts.deps, 2, 0, parts.sim.scan)
    await asyncio.gather(*(parts.dispatcher.dispatch(queued(unique)) for _ in range(3)))
    assert await settled(parts, unique) == LIFECYCLE
    assert len(parts.sim.inbox(TO)) == 1
    assert len(parts.dispatcher.in_flight) == 0


async def test_two_replicas_racing_for_one_message_claim_it_once(parts, unique):
    await ensure_pool(parts.deps, 2, 0, parts.sim.scan)
    twin = Dispatcher(parts.dispatches, parts.deps.live, parts.sim,
                      parts.dispatcher.pacer, parts.dispatcher.clock, parts.sessions)
    await asyncio.gather(parts.dispatcher.dispatch(queued(unique)), twin.dispatch(queued(unique)))
    types = await settled(parts, unique)
    assert types == LIFECYCLE
    assert [m.transport_message_id for m in parts.sim.inbox(TO)] == [f"sb-{unique}"]


async def test_a_claim_left_by_a_crash_is_sent_with_the_same_transport_id(parts, unique):
    await ensure_pool(parts.deps, 2, 0, parts.sim.scan)
    dispatch = await parts.dispatches.get(unique)
    dispatch.claim("pool-2", 42)
    await parts.dispatches.save(dispatch)
    await parts.sim.send("pool-2", TO, "body", f"sb-{unique}")  # it did go out before the crash
    await parts.dispatcher.dispatch(queued(unique))
    assert await settled(parts, unique) == LIFECYCLE
    assert len(parts.sim.inbox(TO)) == 1
    sent = parts.dispatches.codec.decode((await parts.store.read_stream(f"dispatch-{unique}"))[1])
    assert (sent.device_id, sent.transport_message_id) == ("pool-2", f"sb-{unique}")


def first(message_id: str) -> DispatchMessage:
    """As the dispatch consumer hands over JetStream's first delivery of a message."""
    return replace(queued(message_id), first_delivery=True)


async def test_a_first_delivery_claims_without_reading_the_stream(parts, unique):
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        verb = statement.split()[0].upper()
        if "events" in statement and verb in ("SELECT", "INSERT"):
            statements.append(verb)

    await ensure_pool(parts.deps, 2, 0, parts.sim.scan)
    event.listen(parts.store.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await parts.dispatcher.dispatch(first(unique))
    finally:
        event.remove(parts.store.engine.sync_engine, "before_cursor_execute", seen)
    assert statements[0] == "INSERT"  # the claim, before anything read the stream
    assert await settled(parts, unique) == LIFECYCLE


async def test_a_first_delivery_of_a_message_sent_already_is_not_sent_again(parts, unique):
    """A copy of a message published twice (after the broker's duplicate window) comes as
    a first delivery too: the claim without a read is refused and the stream read."""
    await ensure_pool(parts.deps, 2, 0, parts.sim.scan)
    await parts.dispatcher.dispatch(first(unique))
    await settled(parts, unique)
    await parts.dispatcher.dispatch(first(unique))
    assert await settled(parts, unique) == LIFECYCLE
    assert len(parts.sim.inbox(TO)) == 1


async def test_a_first_delivery_of_a_claim_another_replica_left_sends_it_once(parts, unique):
    await ensure_pool(parts.deps, 2, 0, parts.sim.scan)
    elsewhere = Repository(parts.store, parts.dispatches.codec, Dispatch)
    dispatch = await elsewhere.get(unique)
    dispatch.claim("pool-2", 42)
    await elsewhere.save(dispatch)
    await parts.dispatcher.dispatch(first(unique))
    assert await settled(parts, unique) == LIFECYCLE
    assert [m.transport_message_id for m in parts.sim.inbox(TO)] == [f"sb-{unique}"]


async def test_a_settled_message_is_not_sent_again(parts, unique):
    await ensure_pool(parts.deps, 1, 0, parts.sim.scan)
    await parts.dispatcher.dispatch(queued(unique))
    await settled(parts, unique)
    await parts.dispatcher.dispatch(queued(unique))
    assert await settled(parts, unique) == LIFECYCLE


async def test_pool_sends_are_spread_over_the_connected_devices(parts, unique):
    await ensure_pool(parts.deps, 3, 0, parts.sim.scan)
    for n in range(6):
        await parts.dispatcher.dispatch(queued(f"{unique}-{n}"))
    await asyncio.wait_for(parts.sim.idle(), 5)
    assert Counter(m.device_id for m in parts.sim.inbox(TO)) == {
        "pool-1": 2, "pool-2": 2, "pool-3": 2}


async def test_concurrent_pool_sends_are_spread_too(store, unique):
    """Each choice takes its device's pacing slot at once: a burst claimed concurrently
    sees the earlier choices and spreads, instead of piling onto the first idle device."""
    sim = SimulatorTransport(delivery_delay=0, read_delay=0)
    parts = wire(store, sim, PacingPolicy(min_gap=0.05))
    try:
        await ensure_pool(parts.deps, 3, 0, parts.sim.scan)
        await asyncio.gather(*(parts.dispatcher.dispatch(queued(f"{unique}-{n}"))
                               for n in range(9)))
        await asyncio.wait_for(parts.sim.idle(), 5)
        assert Counter(m.device_id for m in parts.sim.inbox(TO)) == {
            "pool-1": 3, "pool-2": 3, "pool-3": 3}
    finally:
        await parts.sessions.shutdown()
        await sim.close()


async def test_a_message_pinned_to_an_instance_goes_through_that_device(parts, unique):
    await ensure_pool(parts.deps, 2, 0, parts.sim.scan)
    await parts.dispatcher.dispatch(queued(unique, "instance", "pool-2"))
    assert await settled(parts, unique) == LIFECYCLE
    assert [m.device_id for m in parts.sim.inbox(TO)] == ["pool-2"]


async def test_a_message_pinned_to_a_disconnected_instance_fails(parts, unique):
    await parts.dispatcher.dispatch(queued(unique, "instance", "inst-x"))
    stored = await parts.store.read_stream(f"dispatch-{unique}")
    [failed] = [parts.dispatches.codec.decode(e) for e in stored]
    assert type(failed).__name__ == "MessageFailed"
    assert "inst-x is not connected" in failed.reason and failed.user_id == 42
    assert parts.sim.inbox(TO) == []


async def test_a_transport_error_fails_the_message(store, unique):
    sim = SimulatorTransport(delivery_delay=0, read_delay=0, failure_rate=1.0)
    parts = wire(store, sim)
    await ensure_pool(parts.deps, 1, 0, sim.scan)
    await parts.dispatcher.dispatch(queued(unique))
    assert await parts.types(f"dispatch-{unique}") == ["MessageDispatched", "MessageFailed"]
    assert sim.inbox(TO) == []


async def test_without_a_pooled_device_the_message_stays_queued(parts, unique):
    with pytest.raises(NoDeviceAvailableError):
        await parts.dispatcher.dispatch(queued(unique))
    assert await parts.types(f"dispatch-{unique}") == []


async def test_a_message_no_device_took_in_time_fails_once_with_its_reason(parts, unique):
    """Older than the expiry and still unclaimed: failed (billing refunds MessageFailed),
    pooled or pinned, once however often it is redelivered; a younger one still waits."""
    parts.dispatcher.expire_after = 3600
    now = parts.dispatcher.clock()
    stale = [replace(queued(f"{unique}-{channel}", channel, "inst-gone"),
                     queued_at=now - timedelta(hours=1, seconds=1))
             for channel in ("pool", "instance")]
    for message in stale * 2:
        await parts.dispatcher.dispatch(message)
    for message in stale:
        stored = await parts.store.read_stream(f"dispatch-{message.message_id}")
        [failed] = [parts.dispatches.codec.decode(e) for e in stored]
        assert (type(failed).__name__, failed.user_id) == ("MessageFailed", 42)
        assert failed.reason == "no WhatsApp device took the message within 1 h of queueing"
    young = replace(queued(unique), queued_at=now - timedelta(minutes=59))
    with pytest.raises(NoDeviceAvailableError):
        await parts.dispatcher.dispatch(young)
    assert await parts.types(f"dispatch-{unique}") == []


async def test_a_receipt_for_an_unknown_or_foreign_message_changes_nothing(parts, unique):
    await ensure_pool(parts.deps, 1, 0, parts.sim.scan)
    await parts.sim.send("pool-1", TO, "not ours", "3EB0FOREIGN")
    await parts.sim.send("pool-1", TO, "never claimed", f"sb-{unique}")
    await asyncio.wait_for(parts.sim.idle(), 5)
    assert await parts.types(f"dispatch-{unique}") == []
