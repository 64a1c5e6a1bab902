"""Passing send failures over a real store (SQLite and PostgreSQL) and the simulator: each
failed try is counted on the dispatch stream and handed back with a growing delay; the
message is sent once the far side is back, and fails after its last allowed try."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.device.adapters.simulator import Outage
from services.device.app.dispatch import HandBackError, RetryPolicy
from services.device.app.pool import ensure_pool
from services.device.domain.commands import DispatchMessage
from tests.device.conftest import Parts

TO = "447700900123"
POLICY = RetryPolicy(attempts=3, base=0.5, cap=0.8, timeout=0.2)


def queued(message_id: str) -> DispatchMessage:
    return DispatchMessage(message_id, 42, TO, f"body of {message_id}", "pool", "")


def outage(parts: Parts, kind: Outage, seconds: float = 60.0) -> None:
    parts.sim.far.begin_outage(kind, datetime.now(UTC) + timedelta(seconds=seconds))


async def handed_back(parts: Parts, message_id: str) -> HandBackError:
    with pytest.raises(HandBackError) as back:
        await parts.dispatcher.dispatch(queued(message_id))
    return back.value


@pytest.fixture
async def retrying(parts: Parts) -> Parts:
    parts.dispatcher.retry = POLICY
    await ensure_pool(parts.deps, 1, 0, parts.sim.scan)
    return parts


def test_the_backoff_doubles_up_to_its_cap():
    assert [POLICY.delay(n) for n in (1, 2, 3, 4)] == [0.5, 0.8, 0.8, 0.8]
    assert [RetryPolicy().delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


@pytest.mark.parametrize("kind", list(Outage))
async def test_a_passing_failure_is_counted_and_tried_again(retrying, unique, kind):
    parts = retrying
    outage(parts, kind)
    back = await handed_back(parts, unique)
    assert back.delay == 0.5
    assert await parts.types(f"dispatch-{unique}") == ["MessageDispatched", "SendAttemptFailed"]
    parts.sim.far.end_outage()
    await parts.dispatcher.dispatch(queued(unique))
    await asyncio.wait_for(parts.sim.idle(), 5)
    assert await parts.types(f"dispatch-{unique}") == [
        "MessageDispatched", "SendAttemptFailed", "MessageSent", "MessageDelivered",
        "MessageRead"]
    assert [m.transport_message_id for m in parts.sim.inbox(TO)] == [f"sb-{unique}"]


@pytest.mark.parametrize(("kind", "reason", "kept"), [
    (Outage.UNAVAILABLE, "WhatsApp is unavailable", 0),
    (Outage.SILENT, "no answer from the far side within 0.2 s", 0),
    (Outage.CUT, "the connection dropped before WhatsApp acknowledged the message", 1),
])
async def test_the_last_allowed_try_fails_the_message(retrying, unique, kind, reason, kept):
    parts = retrying
    outage(parts, kind)
    assert [(await handed_back(parts, unique)).delay for _ in range(2)] == [0.5, 0.8]
    await parts.dispatcher.dispatch(queued(unique))  # the third try: no hand-back
    stored = await parts.store.read_stream(f"dispatch-{unique}")
    events = [parts.dispatches.codec.decode(e) for e in stored]
    assert [type(e).__name__ for e in events] == [
        "MessageDispatched", "SendAttemptFailed", "SendAttemptFailed", "MessageFailed"]
    assert [e.attempt for e in events[1:3]] == [1, 2]
    assert events[-1].reason == f"{reason} (gave up after 3 attempts)"
    assert events[-1].user_id == 42
    assert len(parts.sim.inbox(TO)) == kept  # a cut try was kept once, however often sent
    await parts.dispatcher.dispatch(queued(unique))  # a redelivery after the end: nothing
    assert len(await parts.store.read_stream(f"dispatch-{unique}")) == 4


async def test_a_refusal_for_good_is_not_retried(retrying, unique):
    parts = retrying
    parts.sim.failure_rate = 1.0
    await parts.dispatcher.dispatch(queued(unique))
    assert await parts.types(f"dispatch-{unique}") == ["MessageDispatched", "MessageFailed"]


async def test_an_outage_that_has_ended_changes_nothing(retrying, unique):
    parts = retrying
    outage(parts, Outage.UNAVAILABLE, seconds=-1)
    await parts.dispatcher.dispatch(queued(unique))
    await asyncio.wait_for(parts.sim.idle(), 5)
    assert (await parts.types(f"dispatch-{unique}"))[:2] == ["MessageDispatched",
                                                             "MessageSent"]
