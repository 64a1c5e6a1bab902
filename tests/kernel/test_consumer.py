"""Durable consumers and `tracked()`: idempotent by event id, ack only after commit,
a failed batch nak'd and redelivered; real nats-server, real stores on both backends."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel import bus, context
from kernel.consumer import (
    BatchHandler,
    DurableConsumer,
    HandBackError,
    OnItsOwn,
    TrackedHandler,
    tracked,
)
from kernel.eventstore import EventStore, NewEvent
from kernel.foreground import Foreground
from kernel.relay import OutboxRelay
from kernel.tables import processed_events
from kernel.wire import Pulls, ack
from tests.kernel.conftest import wait_until

log_meta = MetaData()
applied = Table(
    "applied_log", log_meta,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("consumer", String(100), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("causation_id", String(36), nullable=False),
    Column("correlation_id", String(64), nullable=False),
)


@pytest.fixture
async def log_table(engine: AsyncEngine, store: EventStore) -> Table:
    async with engine.begin() as conn:
        await conn.run_sync(log_meta.create_all)
    return applied


def writer(name: str) -> TrackedHandler:
    """A handler that logs each application of an event: a double apply shows twice."""

    async def handle(envelope: bus.Envelope, conn: AsyncConnection) -> None:
        await conn.execute(insert(applied).values(
            consumer=name, event_id=envelope.event_id,
            causation_id=context.current().causation_id,
            correlation_id=context.current().correlation_id))
    return handle


async def applied_ids(engine: AsyncEngine, consumer: str) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(
            select(applied.c.event_id).where(applied.c.consumer == consumer)
            .order_by(applied.c.n))).scalars())


def envelope(n: int, unique: str) -> bus.Envelope:
    return bus.Envelope(service="svc", event_id=f"{unique}-{n}", event_type="Happened",
                        stream_id=f"s-{unique}", stream_version=n, payload=b"",
                        correlation_id=f"corr-{unique}", causation_id="",
                        recorded_at=datetime.now(UTC), stream_sequence=n)


async def test_tracked_applies_a_duplicated_envelope_once(engine: AsyncEngine, log_table: Table,
                                                          unique: str) -> None:
    e1, e2, e3 = (envelope(n, unique) for n in (1, 2, 3))
    handle = tracked(engine, "views", writer("views"))
    await handle([e1, e1, e2])
    await handle([e2, e3, e1])
    await handle([e3])
    assert await applied_ids(engine, "views") == [e1.event_id, e2.event_id, e3.event_id]

    # Work caused by an event carries it as the cause (and keeps its correlation).
    async with engine.connect() as conn:
        traces = {tuple(r) for r in await conn.execute(
            select(applied.c.causation_id, applied.c.correlation_id))}
    assert traces == {(e.event_id, f"corr-{unique}") for e in (e1, e2, e3)}

    # Another consumer has its own memory of what it processed.
    await tracked(engine, "other", writer("other"))([e3, e1])
    assert await applied_ids(engine, "other") == [e3.event_id, e1.event_id]
    async with engine.connect() as conn:
        tracked_ids = (await conn.execute(select(func.count()).select_from(processed_events)
                                          .where(processed_events.c.consumer == "views"))
                       ).scalar_one()
    assert tracked_ids == 3


async def test_tracked_batch_that_fails_leaves_nothing_behind(engine: AsyncEngine,
                                                             log_table: Table,
                                                             unique: str) -> None:
    batch = [envelope(n, unique) for n in range(1, 6)]
    inner = writer("flaky")

    async def fails_on_the_fourth(e: bus.Envelope, conn: AsyncConnection) -> None:
        await inner(e, conn)
        if e.stream_version == 4:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await tracked(engine, "flaky", fails_on_the_fourth)(batch)
    assert await applied_ids(engine, "flaky") == []
    await tracked(engine, "flaky", inner)(batch)  # the redelivery, now that it works
    assert await applied_ids(engine, "flaky") == [e.event_id for e in batch]


async def _published(store: EventStore, js: JetStreamContext, service: str, unique: str,
                     count: int) -> list[str]:
    await store.append(f"c-{unique}", 0, [NewEvent("Happened", b"%d" % n) for n in range(count)])
    relay = OutboxRelay(store, js, service)
    while await relay.publish_pending():
        pass
    return [e.event_id for e in await store.read_all(limit=10_000)]


async def _settled(js: JetStreamContext, service: str, durable: str) -> bool:
    """Every message delivered and acked (False while the consumer does not exist yet)."""
    info = await _info(js, service, durable)
    return info is not None and info.num_pending == 0 and info.num_ack_pending == 0


async def _all_settled(js: JetStreamContext, service: str,
                       consumers: list[DurableConsumer]) -> bool:
    return all([await _settled(js, service, c.durable) for c in consumers])


async def _info(js: JetStreamContext, service: str, durable: str) -> ConsumerInfo | None:
    try:
        return await js.consumer_info(bus.stream_name(service), durable)
    except NotFoundError:
        return None


async def _run(consumer: DurableConsumer) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(consumer.run(stop))


async def _until_settled(consumer: DurableConsumer, what: str) -> None:
    """Run the consumer until every message of its durable is handled and acked."""
    stop, task = await _run(consumer)
    try:
        await wait_until(lambda: _settled(consumer.js, consumer.service, consumer.durable),
                         timeout=15, what=what)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_consumer_applies_broker_level_duplicates_once(
        store: EventStore, engine: AsyncEngine, log_table: Table, js: JetStreamContext,
        service: str, unique: str) -> None:
    """The same event published again past the broker's dedup (a new Nats-Msg-Id, as after
    the duplicate window) reaches the consumer twice and is applied once."""
    ids = await _published(store, js, service, unique, 40)
    for event in (await store.read_all(limit=10_000))[::4]:
        headers = bus.headers_for(service, event) | {"Nats-Msg-Id": f"again-{event.event_id}"}
        await js.publish(bus.subject(service, event.event_type), event.payload, headers=headers)
    assert (await js.stream_info(bus.stream_name(service))).state.messages == 50

    durable = f"dup-{unique}"
    consumer = DurableConsumer(js, service, durable, tracked(engine, durable, writer(durable)),
                               batch=7)
    stop, task = await _run(consumer)
    try:
        await wait_until(lambda: _settled(js, service, durable), what="all 50 acked")
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert await applied_ids(engine, durable) == ids


async def test_handler_failure_naks_and_the_batch_is_applied_once_when_it_recovers(
        store: EventStore, engine: AsyncEngine, log_table: Table, js: JetStreamContext,
        service: str, unique: str) -> None:
    ids = await _published(store, js, service, unique, 30)
    poison = ids[12]
    failures = collections.Counter[str]()
    inner = writer(f"nak-{unique}")

    async def recovers_after_two_failures(e: bus.Envelope, conn: AsyncConnection) -> None:
        await inner(e, conn)  # written, then rolled back with the failed batch
        if e.event_id == poison and failures[poison] < 2:
            failures[poison] += 1
            raise RuntimeError("transient")

    durable = f"nak-{unique}"
    consumer = DurableConsumer(js, service, durable,
                               tracked(engine, durable, recovers_after_two_failures), batch=10)
    await _until_settled(consumer, "the failed batch to be redelivered and acked")
    assert failures[poison] == 2
    assert sorted(await applied_ids(engine, durable)) == sorted(ids)
    info = await js.consumer_info(bus.stream_name(service), durable)
    assert info.ack_floor.stream_seq == 30
    assert info.delivered.consumer_seq > 30  # some were delivered more than once


async def test_consumer_acks_only_after_the_handler_commits(
        store: EventStore, engine: AsyncEngine, log_table: Table, js: JetStreamContext,
        service: str, unique: str) -> None:
    ids = await _published(store, js, service, unique, 5)
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow(batch: Sequence[bus.Envelope]) -> None:
        entered.set()
        await release.wait()

    durable = f"slow-{unique}"
    consumer = DurableConsumer(js, service, durable, slow, batch=10)
    stop, task = await _run(consumer)
    try:
        await asyncio.wait_for(entered.wait(), 10)
        info = await js.consumer_info(bus.stream_name(service), durable)
        assert (info.num_ack_pending, info.ack_floor.stream_seq) == (len(ids), 0)
        release.set()
        await wait_until(lambda: _settled(js, service, durable), what="the acks")
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_a_consumer_waits_for_its_source_stream_and_then_reads_it(
        store: EventStore, js: JetStreamContext, unique: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """Started before its source service created its stream, the consumer waits quietly
    (and `prepare` says the durable is not there yet), then reads every event."""
    source = f"late{unique}"
    seen: list[str] = []

    async def note(batch: Sequence[bus.Envelope]) -> None:
        seen.extend(e.event_id for e in batch)

    consumer = DurableConsumer(js, source, f"late-{unique}", note)
    assert await consumer.prepare() is False
    stop, task = await _run(consumer)
    try:
        await asyncio.sleep(1.5)
        assert not task.done()
        await bus.ensure_stream(js, source)
        ids = await _published(store, js, source, unique, 6)
        await wait_until(lambda: _settled(js, source, f"late-{unique}"), what="all acked")
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await js.delete_stream(bus.stream_name(source))
    assert seen == ids
    assert [r for r in caplog.records if r.name == "kernel.consumer"
            and r.levelno >= logging.WARNING] == []


async def test_on_its_own_acks_hands_back_and_retries_each_message_alone(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """One message handed back twice and one failing once are each redelivered alone;
    the rest of their batch is acked at once and handled once."""
    ids = await _published(store, js, service, unique, 8)
    back, failing = ids[2], ids[5]
    calls = collections.Counter[str]()

    async def handle(e: bus.Envelope) -> None:
        calls[e.event_id] += 1
        if e.event_id == back and calls[back] <= 2:
            raise HandBackError("not here", 0.05)
        if e.event_id == failing and calls[failing] == 1:
            raise RuntimeError("transient")

    durable = f"own-{unique}"
    consumer = DurableConsumer(js, service, durable, OnItsOwn(handle, 0.05, 0.2), batch=8)
    stop, task = await _run(consumer)
    try:
        await wait_until(lambda: _settled(js, service, durable), what="all acked")
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert calls == {**dict.fromkeys(ids, 1), back: 3, failing: 2}


async def test_a_stop_ends_an_idle_fetch_and_leaves_no_message_held(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """A consumer stopped while its pull waits idle ends at once; a message published
    right after goes straight to the next consumer of that durable, not held for the
    ack wait by the abandoned pull."""
    durable = f"idle-{unique}"
    seen: list[str] = []

    async def note(batch: Sequence[bus.Envelope]) -> None:
        seen.extend(e.event_id for e in batch)

    first = DurableConsumer(js, service, durable, note, ack_wait=120.0)
    stop, task = await _run(first)
    await wait_until(lambda: _exists(js, service, durable), what="the durable")
    await asyncio.sleep(0.5)  # its pull is waiting on the server
    stop.set()
    await asyncio.wait_for(task, 1.5)
    ids = await _published(store, js, service, unique, 3)
    await _until_settled(DurableConsumer(js, service, durable, note, ack_wait=120.0),
                         "every message handled and acked")
    assert seen == ids


async def _exists(js: JetStreamContext, service: str, durable: str) -> bool:
    try:
        await js.consumer_info(bus.stream_name(service), durable)
    except NotFoundError:
        return False
    return True


async def test_a_lingering_consumer_takes_what_comes_after_its_first_message_in_one_batch(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """With `linger`, a batch's first message waits that long for more: messages published
    meanwhile are handled with it, in one batch; without, the first goes alone.

    The four more are published once the lingering consumer holds the first (delivered,
    not yet acked), not at a time guessed from the other consumer's progress: its linger
    starts when it takes the first, and a slow start of the other must not end it first."""
    batches: dict[str, list[list[str]]] = {"lingering": [], "eager": []}

    eager = DurableConsumer(js, service, f"eager-{unique}", noting(batches["eager"]))
    lingering = DurableConsumer(js, service, f"linger-{unique}", noting(batches["lingering"]),
                                linger=4.0)
    await _published(store, js, service, unique, 1)
    running = [await _run(eager)]
    try:
        await wait_until(lambda: _handed(batches["eager"]), what="the first, eagerly")
        running.append(await _run(lingering))
        await wait_until(lambda: _holding(js, service, lingering.durable, 1),
                         what="the lingering consumer holding the first")
        more = [NewEvent("Happened", b"more %d" % n) for n in range(4)]
        await store.append(f"c-{unique}-more", 0, more)
        relay = OutboxRelay(store, js, service)
        while await relay.publish_pending():
            pass
        await wait_until(lambda: _all_settled(js, service, [eager, lingering]),
                         timeout=15, what="all five acked by both")
    finally:
        for stop, task in running:
            stop.set()
            await asyncio.wait_for(task, 5)
    ids = [e.event_id for e in await store.read_all(limit=100)]
    handed = {name: [b for b in found if b] for name, found in batches.items()}  # [] on stop
    assert handed["lingering"] == [ids]
    assert handed["eager"][0] == ids[:1] and sum(handed["eager"], []) == ids


async def test_a_top_up_takes_what_is_there_and_waits_for_nothing_more(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """After a batch's first message, the top-up takes what the server holds for the
    durable already, at most the batch, in order, and answers at once when there is
    nothing more: it does not wait out its `answer_within` (5 s here, so a wait would
    show)."""
    first_id = (await _published(store, js, service, unique, 1))[0]
    durable = await DurableConsumer(js, service, f"topup-{unique}", _ignore).ensure()
    pulls, stop = Pulls(js, bus.stream_name(service), durable), asyncio.Event()
    await pulls.open(stop)
    try:
        first = await pulls.first(5.0, stop)
        started = time.monotonic()
        nothing = await pulls.now(63, answer_within=5.0)
        answered_in = time.monotonic() - started
        await store.append(f"c-{unique}-more", 0,
                           [NewEvent("Happened", b"more %d" % n) for n in range(100)])
        relay = OutboxRelay(store, js, service)
        while await relay.publish_pending():
            pass
        more = [e.event_id for e in await store.read_all(limit=1000)][1:]
        taken = await pulls.now(63, answer_within=5.0)
        rest = await pulls.now(63, answer_within=5.0)
        for delivery in [*first, *taken, *rest]:
            await ack(pulls.nc, [delivery])
        await wait_until(lambda: _settled(js, service, durable), what="all acked")
    finally:
        await pulls.close()
    assert [d.envelope().event_id for d in first] == [first_id]
    assert nothing == [] and answered_in < 2.5
    assert [d.envelope().event_id for d in taken] == more[:63]
    assert [d.envelope().event_id for d in rest] == more[63:]


async def test_a_message_that_came_alone_is_taken_without_asking_for_more(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """A batch's first message says how many more its durable holds: when none, the
    consumer takes it without a second request (one request per message that came
    alone, not two); when some, it asks for them in the same fetch."""
    await _published(store, js, service, unique, 1)
    consumer = DurableConsumer(js, service, f"alone-{unique}", _ignore)
    durable = await consumer.ensure()
    pulls, stop = Pulls(js, bus.stream_name(service), durable), asyncio.Event()
    await pulls.open(stop)
    try:
        alone = await consumer._fetch(pulls, stop)
        asked_alone = pulls.asked
        drained_after_one = pulls.drained()
        await _published(store, js, service, f"{unique}-three", 3)
        three = await consumer._fetch(pulls, stop)
        for delivery in [*alone, *three]:
            await ack(pulls.nc, [delivery])
        await wait_until(lambda: _settled(js, service, durable), what="all acked")
    finally:
        await pulls.close()
    assert len(alone) == 1 and asked_alone == 1 and drained_after_one
    assert len(three) == 3 and pulls.asked == 3  # its first, then one for the other two


async def test_a_late_status_of_a_request_given_up_on_ends_no_later_request(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """Each pull request has a reply subject of its own: the expiry of a request given up
    on (here one with a 0.5 s expiry, left unanswered) does not end the wait of the next,
    which takes the event published a second later."""
    durable = await DurableConsumer(js, service, f"stale-{unique}", _ignore).ensure()
    pulls, stop = Pulls(js, bus.stream_name(service), durable), asyncio.Event()
    await pulls.open(stop)
    try:
        await pulls._ask({"batch": 1, "expires": int(0.5e9)})
        started = time.monotonic()
        later = asyncio.ensure_future(pulls.first(5.0, stop))
        await asyncio.sleep(1.5)
        assert not later.done()  # the first request's expiry, at 0.5 s, did not end it
        await _published(store, js, service, f"{unique}-later", 1)
        got = await later
        waited_for = time.monotonic() - started
        for delivery in got:
            await ack(pulls.nc, [delivery])
    finally:
        await pulls.close()
    assert len(got) == 1 and waited_for >= 1.5
    assert got[0].envelope().stream_id == f"c-{unique}-later"


def noting(batches: list[list[str]]) -> BatchHandler:
    """A handler that notes each batch's event ids in `batches`."""
    async def note(batch: Sequence[bus.Envelope]) -> None:
        batches.append([e.event_id for e in batch])
    return note


async def _ignore(batch: Sequence[bus.Envelope]) -> None:
    """A handler for durables these tests pull from by hand."""


async def _holding(js: JetStreamContext, service: str, durable: str, count: int) -> bool:
    """The durable has `count` messages delivered and not yet acked."""
    info = await _info(js, service, durable)
    return info is not None and info.num_ack_pending == count


async def _handed(batches: list[list[str]]) -> bool:
    return bool(batches)


async def test_a_durable_unanswered_at_start_is_asked_for_again(
        store: EventStore, engine: AsyncEngine, js: JetStreamContext, service: str,
        unique: str) -> None:
    """A JetStream API request that a busy server leaves unanswered past its time limit
    does not fail the service's start: creating the durable is idempotent and is asked
    again (here the first request is answered too late: it reaches the real server)."""
    await _published(store, js, service, unique, 1)
    asked: list[str] = []

    class LateFirstAnswer:
        def __getattr__(self, name: str) -> object:
            return getattr(js, name)

        async def add_consumer(self, *args: object, **kwargs: object) -> object:
            asked.append("add_consumer")
            created = await js.add_consumer(*args, **kwargs)  # type: ignore[arg-type]
            if len(asked) == 1:
                raise NatsTimeoutError
            return created

    durable = f"late-{unique}"
    consumer = DurableConsumer(LateFirstAnswer(), service, durable,  # type: ignore[arg-type]
                               tracked(engine, durable, writer(durable)))
    assert await consumer.prepare() is True
    assert asked == ["add_consumer", "add_consumer"]
    assert (await js.consumer_info(bus.stream_name(service), durable)).name == durable


async def test_a_stream_unanswered_at_start_is_asked_for_again(js: JetStreamContext,
                                                                unique: str) -> None:
    """The same for the service's own stream (`bus.ensure_stream`, in every service's
    start): a first request answered too late is asked again; one never answered fails
    the start after ASK_TRIES tries, not before."""
    asked: list[str] = []

    class LateFirstAnswers:
        def __init__(self, late: int) -> None:
            self.late = late

        def __getattr__(self, name: str) -> object:
            return getattr(js, name)

        async def stream_info(self, *args: object, **kwargs: object) -> object:
            asked.append("stream_info")
            if len(asked) <= self.late:
                raise NatsTimeoutError
            return await js.stream_info(*args, **kwargs)  # type: ignore[arg-type]

    name = f"late{unique}"
    await bus.ensure_stream(LateFirstAnswers(1), name)  # type: ignore[arg-type]
    try:
        assert asked == ["stream_info", "stream_info"]
        assert (await js.stream_info(bus.stream_name(name))).config.name == bus.stream_name(name)
    finally:
        await js.delete_stream(bus.stream_name(name))
    asked.clear()
    with pytest.raises(NatsTimeoutError):
        await bus.ensure_stream(LateFirstAnswers(bus.ASK_TRIES), f"never{unique}")  # type: ignore[arg-type]
    assert asked == ["stream_info"] * bus.ASK_TRIES


async def test_a_lingering_consumer_waits_for_the_bulk_send_being_answered(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """While a bulk send is being accepted in the process, a lingering consumer holds its
    batch after its linger (a bound of 30 s here, so only the request's end releases it);
    a consumer that does not linger goes on at once. Once the request ends, the batch is
    handled."""
    batches: dict[str, list[list[str]]] = {"lingering": [], "eager": []}

    foreground = Foreground(bound=30.0)
    eager = DurableConsumer(js, service, f"eager-{unique}", noting(batches["eager"]),
                            foreground=foreground)
    lingering = DurableConsumer(js, service, f"linger-{unique}", noting(batches["lingering"]),
                                linger=0.05, foreground=foreground)
    running = []
    try:
        with foreground.answering():
            ids = await _published(store, js, service, unique, 3)
            running = [await _run(eager), await _run(lingering)]
            await wait_until(lambda: _settled(js, service, eager.durable),
                             what="the eager consumer done, a bulk send or not")
            await wait_until(lambda: _holding(js, service, lingering.durable, 1),
                             what="the lingering consumer holding the first")
            await asyncio.sleep(1.0)  # twenty lingers
            held_during_the_request = not [b for b in batches["lingering"] if b]
            ended = time.monotonic()
        await wait_until(lambda: _settled(js, service, lingering.durable), timeout=15,
                         what="the lingering consumer done once the request ended")
        handled_after = time.monotonic() - ended
    finally:
        for stop, task in running:
            stop.set()
            await asyncio.wait_for(task, 5)
    assert held_during_the_request
    assert handled_after < 10  # the request's end, not the 30 s bound
    assert sum(batches["eager"], []) == ids
    assert sum(batches["lingering"], []) == ids


async def test_a_lingering_consumer_behind_its_source_waits_for_nothing(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """A consumer whose next message was stored `behind` seconds ago or more (1 s here)
    takes its batches at once, bulk send or linger (30 s of gap here): five events a
    second and a half old all come while the request is answered; two fresh ones then
    wait for its end."""
    batches: list[list[str]] = []
    foreground = Foreground(bound=30.0)
    late = DurableConsumer(js, service, f"late-{unique}", noting(batches), batch=4, linger=0.5,
                           foreground=foreground, behind=1.0)
    old = await _published(store, js, service, unique, 5)
    await asyncio.sleep(1.5)
    running = []
    try:
        with foreground.answering():
            running = [await _run(late)]
            await wait_until(lambda: _settled(js, service, late.durable),
                             what="the old five while the request is answered")
            await _published(store, js, service, f"{unique}-fresh", 2)
            await wait_until(lambda: _holding(js, service, late.durable, 1),
                             what="the first fresh one held")
            await asyncio.sleep(1.5)  # three lingers
            while_answered = sum([b for b in batches if b], [])
        await wait_until(lambda: _settled(js, service, late.durable), timeout=15,
                         what="the fresh two, once the request ended")
    finally:
        for stop, task in running:
            stop.set()
            await asyncio.wait_for(task, 5)
    ids = [e.event_id for e in await store.read_all(limit=100)]
    assert while_answered == old
    assert sum([b for b in batches if b], []) == ids and len(ids) == 7
