"""Integration: dropping the history view and replaying it from the streams gives the
live view back, row for row, on both backends."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from nats.js import JetStreamContext
from sqlalchemy import select

from kernel.bus import stream_name, subject
from kernel.config import Settings
from kernel.db import engine_for
from kernel.progress import Progress, reporting
from services.messaging.adapters.history_projection import HistoryProjection
from services.messaging.adapters.history_view import bulk_job_messages, message_history
from services.messaging.rebuild import rebuild_history
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.messaging.conftest import DeviceEvents, Messaging, Neighbours, StartMessaging

T0 = datetime(2025, 6, 3, 10, 30, tzinfo=UTC)
NUMBERS = ["27821234567", "27829876543", "27823456789", "14155552671"]


async def snapshot(settings: Settings) -> list[tuple]:
    engine = await engine_for("messaging", settings)
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(message_history).order_by(message_history.c.queue_id))).all()
    await engine.dispose()
    return [tuple(r) for r in rows]


@pytest.fixture
def nats_url(fresh_nats_url: str) -> str:
    """A broker of this test's own: the count below is of its streams, and other tests
    republish events on purpose (as after the duplicate window), which the projection
    rightly applies once."""
    return fresh_nats_url


async def events_in_streams(js: JetStreamContext) -> int:
    """How many events the history projection reads, counted by the broker."""
    total = 0
    for service, types in HistoryProjection().sources.items():
        info = await js.stream_info(stream_name(service), subjects_filter=subject(service))
        total += sum((info.state.subjects or {}).get(subject(service, t), 0) for t in types)
    return total


async def drive_lifecycles(user: int, qids: list[str], device: DeviceEvents) -> None:
    """Each message to a different end, some receipts out of order or twice."""
    sent, read, delivered, dispatched, failed = ("MessageSent", "MessageRead",
                                                 "MessageDelivered", "MessageDispatched",
                                                 "MessageFailed")
    steps = [
        (read, qids[0], {"transport_message_id": "t0", "read_at": T0 + timedelta(seconds=5)}),
        (sent, qids[0], {"device_id": "d", "transport_message_id": "t0", "sent_at": T0}),
        (delivered, qids[0], {"transport_message_id": "t0", "delivered_at": T0}),
        (dispatched, qids[1], {"device_id": "d", "transport_message_id": "t1"}),
        (failed, qids[1], {"reason": "Device disconnected"}),
        (sent, qids[2], {"device_id": "d", "transport_message_id": "t2", "sent_at": T0}),
        (sent, qids[2], {"device_id": "d", "transport_message_id": "t2", "sent_at": T0}),
        (sent, f"{qids[3]}_never_queued", {"device_id": "d", "transport_message_id": "t9",
                                           "sent_at": T0}),
    ]
    for event_type, qid, fields in steps:
        await device.emit(event_type, message_id=qid, user_id=user, **fields)


async def test_rebuild_equals_the_live_view(user: int, messaging: Messaging,
                                            neighbours: Neighbours,
                                            device_events: DeviceEvents,
                                            settings: Settings) -> None:
    neighbours.billing.balances[user] = len(NUMBERS)
    qids = [(await messaging.send(user, n, f"hello {n}")).queue_id for n in NUMBERS]
    await drive_lifecycles(user, qids, device_events)
    await messaging.settle()
    live = await snapshot(settings)
    expected = await events_in_streams(infra_js(messaging))
    await messaging.close()

    applied = await rebuild_history(settings, name=messaging.history_name)

    assert await snapshot(settings) == live
    assert applied == expected
    mine = {r[0]: r for r in live if r[1] == user}
    statuses = [mine[q][4] for q in qids]
    assert statuses == ["read", "failed", "sent", "queued"]
    assert mine[f"{qids[3]}_never_queued"][2:5] == (None, None, "sent")


def infra_js(messaging: Messaging) -> JetStreamContext:
    assert messaging.host.infra is not None
    return messaging.host.infra.js


async def test_rebuild_twice_gives_the_same_view(user: int, messaging: Messaging,
                                                 neighbours: Neighbours,
                                                 settings: Settings) -> None:
    neighbours.billing.balances[user] = 1
    await messaging.send(user)
    await messaging.settle()
    await messaging.close()
    first = await rebuild_history(settings, name=messaging.history_name)
    view = await snapshot(settings)
    assert await rebuild_history(settings, name=messaging.history_name) == first
    assert await snapshot(settings) == view


async def jobs_snapshot(settings: Settings) -> list[tuple]:
    engine = await engine_for("messaging", settings)
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(bulk_job_messages).order_by(bulk_job_messages.c.queue_id))).all()
    await engine.dispose()
    return [tuple(r) for r in rows]


async def test_rebuild_gives_the_bulk_jobs_back(user: int, start_messaging: StartMessaging,
                                                neighbours: Neighbours,
                                                device_events: DeviceEvents,
                                                settings: Settings) -> None:
    messaging = await start_messaging()
    neighbours.billing.balances[user] = len(NUMBERS) + 1
    bulk = await messaging.stub.SendBulkMessage(pb.SendBulkMessageRequest(
        user_id=user, numbers=NUMBERS, message="to all"))
    single = await messaging.send(user)
    await drive_lifecycles(user, list(bulk.queue_ids), device_events)
    await messaging.settle()
    job = await messaging.stub.GetBulkJob(pb.GetBulkJobRequest(user_id=user,
                                                               job_id=bulk.job_id))
    live = await jobs_snapshot(settings)
    await messaging.close()

    await rebuild_history(settings, name=messaging.history_name)

    assert await jobs_snapshot(settings) == live
    mine = [r for r in live if r[1] == bulk.job_id]
    assert sorted(r[0] for r in mine) == sorted(bulk.queue_ids)
    assert single.queue_id not in {r[0] for r in live}
    assert (job.total, job.queued, job.sent, job.read, job.failed) == (4, 1, 1, 1, 1)
    again = await start_messaging()
    rebuilt = await again.stub.GetBulkJob(pb.GetBulkJobRequest(user_id=user,
                                                               job_id=bulk.job_id))
    assert rebuilt == job


async def test_a_rebuild_reports_its_progress_as_it_goes(user: int, messaging: Messaging,
                                                         neighbours: Neighbours,
                                                         device_events: DeviceEvents,
                                                         settings: Settings) -> None:
    neighbours.billing.balances[user] = 30
    for _ in range(3):
        bulk = await messaging.stub.SendBulkMessage(pb.SendBulkMessageRequest(
            user_id=user, numbers=[f"2782{i:07d}" for i in range(10)], message="x"))
    await device_events.emit("MessageSent", message_id=bulk.queue_ids[0], user_id=user,
                             device_id="d", transport_message_id="t", sent_at=T0)
    await messaging.settle()
    expected = await events_in_streams(infra_js(messaging))
    await messaging.close()
    out = io.StringIO()
    with reporting(Progress("rebuild history", out=out, every=0.0)):
        applied = await rebuild_history(settings, name=messaging.history_name)
    lines = out.getvalue().splitlines()
    assert applied == expected == 31  # from both streams
    assert len(lines) >= 2  # one a batch (every=0 shows them all), and the last
    found = [re.fullmatch(r"rebuild history: (\d+)/(\d+) events replayed \((\d+)%\), "
                          r"(\d+)/s, ETA (\d+)s", line) for line in lines]
    assert all(found), lines
    done = [int(m.group(1)) for m in found if m]
    assert done == sorted(done) and done[-1] == expected
    assert {int(m.group(2)) for m in found if m} == {expected}
    assert lines[-1].startswith(f"rebuild history: {expected}/{expected} events replayed (100%)")
    assert lines[-1].endswith("ETA 0s")
