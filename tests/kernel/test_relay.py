"""The outbox relay against a real nats-server and real stores: order, headers, crash
safety (a failing hook, and a real kill -9 of a relay process), nothing lost while down."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import signal
import sys
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel import bus, context
from kernel.consumer import DurableConsumer
from kernel.db import create_engine
from kernel.eventstore import EventStore, NewEvent, StoredEvent, StreamWrite
from kernel.relay import OutboxRelay
from kernel.tables import relay_offsets
from launcher import natsserver
from tests.kernel.conftest import stream_messages, wait_until

ROOT = Path(__file__).resolve().parents[2]


class Appender:
    """Appends events spread over several streams, a few per transaction."""

    def __init__(self, store: EventStore, prefix: str, streams: int = 7) -> None:
        self.store = store
        self.versions = {f"{prefix}-{n}": 0 for n in range(streams)}
        self.appended = 0

    async def append(self, count: int, per_transaction: int = 10, pause: float = 0,
                     until: asyncio.Event | None = None) -> None:
        names = list(self.versions)
        while count > 0 and not (until and until.is_set()):
            await asyncio.sleep(pause)
            writes = []
            for _ in range(min(per_transaction, count)):
                stream = names[self.appended % len(names)]
                writes.append(StreamWrite(stream, self.versions[stream], [NewEvent(
                    "Odd" if self.appended % 2 else "Even", f"#{self.appended}".encode())]))
                self.versions[stream] += 1
                self.appended += 1
                count -= 1
            await self.store.append_many(_merge(writes))


def _merge(writes: list[StreamWrite]) -> list[StreamWrite]:
    by_stream: dict[str, StreamWrite] = {}
    for w in writes:
        prior = by_stream.get(w.stream_id)
        by_stream[w.stream_id] = w if prior is None else StreamWrite(
            w.stream_id, prior.expected_version, [*prior.events, *w.events])
    return list(by_stream.values())


async def drain(relay: OutboxRelay) -> int:
    total = 0
    while published := await relay.publish_pending():
        total += published
    return total


async def assert_stream_holds_exactly(js: JetStreamContext, service: str,
                                      store: EventStore) -> None:
    """JetStream holds every stored event once, in position order, and nothing else."""
    stored = await store.read_all(limit=1_000_000)
    info = await js.stream_info(bus.stream_name(service))
    assert info.state.messages == len(stored)
    published = await stream_messages(js, service)
    assert [m.event_id for m in published] == [e.event_id for e in stored]
    assert [m.stream_sequence for m in published] == list(range(1, len(stored) + 1))


async def test_relay_publishes_committed_events_in_position_order(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    trace = context.begin(f"corr-{unique}", causation_id=f"cause-{unique}")
    appender = Appender(store, f"order-{unique}")
    await appender.append(600, per_transaction=30)
    relay = OutboxRelay(store, js, service, batch=256)
    assert [await relay.publish_pending() for _ in range(4)] == [256, 256, 88, 0]
    assert relay.published == 600

    stored = await store.read_all(limit=10_000)
    assert await relay.position() == stored[-1].position
    assert await relay.lag() == 0
    await assert_stream_holds_exactly(js, service, store)

    published = await stream_messages(js, service)
    for event, envelope in zip(stored, published, strict=True):
        assert envelope.service == service
        assert (envelope.event_type, envelope.stream_id, envelope.stream_version) == (
            event.event_type, event.stream_id, event.stream_version)
        assert envelope.payload == event.payload
        assert envelope.recorded_at == event.recorded_at
        assert (envelope.correlation_id, envelope.causation_id) == (trace.correlation_id,
                                                                   trace.causation_id)
    info = await js.stream_info(bus.stream_name(service), subjects_filter=">")
    assert info.state.subjects == {bus.subject(service, "Even"): 300,
                                   bus.subject(service, "Odd"): 300}


async def test_a_relay_that_crashed_after_publishing_is_continued_without_duplicates(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """Published, but the progress never recorded: the next relay publishes the same
    events again and the broker drops them as duplicates (Nats-Msg-Id = event id)."""
    appender = Appender(store, f"crash-{unique}")
    await appender.append(250)
    crashes: list[int] = []

    async def crash(events: list) -> None:
        crashes.append(len(events))
        raise RuntimeError("crashed after publishing, before recording")

    failing = OutboxRelay(store, js, service, batch=100, after_publish=crash)
    with pytest.raises(RuntimeError):
        await failing.publish_pending()
    assert await failing.position() == 0
    assert (await js.stream_info(bus.stream_name(service))).state.messages == 100

    # Its own run loop keeps retrying the same batch, and keeps failing.
    stop = asyncio.Event()
    task = asyncio.create_task(failing.run(stop))
    await wait_until(lambda: _at_least(crashes, 3), what="the relay to retry")
    stop.set()
    await asyncio.wait_for(task, 5)
    assert (await js.stream_info(bus.stream_name(service))).state.messages == 100

    fresh = OutboxRelay(store, js, service, batch=100)
    assert await drain(fresh) == 250
    await assert_stream_holds_exactly(js, service, store)

    seen: collections.Counter[str] = collections.Counter()

    async def count(batch: list) -> None:
        seen.update(e.event_id for e in batch)

    consumer = DurableConsumer(js, service, f"count-{unique}", count)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await wait_until(lambda: _at_least(list(seen.elements()), 250), what="all 250 events")
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(seen) == 250 and set(seen.values()) == {1}


async def _at_least(items: list, n: int) -> bool:
    return len(items) >= n


async def test_events_committed_while_the_relay_is_down_are_published(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    appender = Appender(store, f"down-{unique}")
    await appender.append(100)
    assert await drain(OutboxRelay(store, js, service)) == 100

    await appender.append(150)  # no relay running
    relay = OutboxRelay(store, js, service)
    assert await relay.lag() == 150
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_until(lambda: _lag_is(relay, 0), what="the backlog to be published")
        await appender.append(20)  # and, live, what is appended while it runs
        await wait_until(lambda: _lag_is(relay, 0), timeout=3, what="live events")
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    await assert_stream_holds_exactly(js, service, store)


async def _lag_is(relay: OutboxRelay, n: int) -> bool:
    return await relay.lag() == n


# ---- a real kill -9 ----


class RelayProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, database_url: str, nats_url: str, service: str,
                    pause_at: int = 0) -> RelayProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.kernel.relay_process", database_url, nats_url,
            service, str(pause_at), cwd=ROOT, stdout=asyncio.subprocess.PIPE)
        relay = cls(proc)
        assert await relay._line() == "ready"
        return relay

    async def _line(self) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line:
            raise AssertionError(f"relay process exited: {await self.proc.wait()}")
        return line.decode().strip()

    async def kill_once_past(self, position: int, within: float = 0) -> int:
        """SIGKILL once a batch up to `position` or beyond has been published (and then
        up to `within` seconds later, wherever the relay has got to by then)."""
        while (published := int(await self._line())) < position:
            pass
        await asyncio.sleep(random.uniform(0, within))
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL
        return published

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()


async def test_kill_9_of_a_relay_loses_and_duplicates_nothing(
        store: EventStore, js: JetStreamContext, service: str, unique: str,
        database_url: str, nats_url: str) -> None:
    appender = Appender(store, f"kill-{unique}", streams=25)
    await appender.append(1000)
    relays: list[RelayProcess] = []
    enough = asyncio.Event()
    writing = asyncio.create_task(asyncio.sleep(0))
    try:
        # First life: killed while paused after publishing a batch, before recording it.
        relays.append(await RelayProcess.start(database_url, nats_url, service, pause_at=1500))
        # Events keep being committed while the relays publish, die and restart.
        writing = asyncio.create_task(
            appender.append(20_000, per_transaction=5, pause=0.004, until=enough))
        await relays[-1].kill_once_past(1500)
        probe = OutboxRelay(store, js, service)
        at = await probe.position()
        recorded = sum(e.position <= at for e in await store.read_all(limit=100_000))
        in_stream = (await js.stream_info(bus.stream_name(service))).state.messages
        assert in_stream > recorded, "the kill did not land between publish and record"

        # Second life: killed at whatever point it has reached, mid-stream.
        relays.append(await RelayProcess.start(database_url, nats_url, service))
        await relays[-1].kill_once_past(3000, within=0.01)
        enough.set()
        await writing
        await appender.append(200)  # committed while no relay runs

        relays.append(await RelayProcess.start(database_url, nats_url, service))
        total = appender.appended
        assert total > 3200

        async def all_published() -> bool:
            info = await js.stream_info(bus.stream_name(service))
            return bool(info.state.messages >= total)

        await wait_until(all_published, timeout=30, what="the restarted relay to catch up")
        await wait_until(lambda: _lag_is(probe, 0), what="the relay to record its progress")
    finally:
        writing.cancel()
        for relay in relays:
            if relay.proc.returncode is None:
                await relay.kill()
    await assert_stream_holds_exactly(js, service, store)


async def test_relay_rides_out_a_kill_9_of_nats(store: EventStore, unique: str,
                                                tmp_path: Path) -> None:
    """NATS itself dies (kill -9) mid-load and comes back on the same store: the relay
    reconnects and the stream ends up with every event once, in position order."""
    port = natsserver.free_port()
    server = natsserver.start(port, tmp_path / "js")
    url = f"nats://127.0.0.1:{port}"
    nc = await bus.connect(url, name="relay")
    service = f"nk{unique}"
    await bus.ensure_stream(nc.jetstream(), service)
    relay = OutboxRelay(store, nc.jetstream(), service, idle_wait=0.05)
    appender = Appender(store, f"nk-{unique}")
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    writing = asyncio.create_task(appender.append(1500, per_transaction=3, pause=0.001))
    checker = None
    try:
        await wait_until(lambda: _published_at_least(relay, 300), what="publishing to start")
        server.send_signal(signal.SIGKILL)
        server.wait()
        await asyncio.sleep(0.5)  # events keep being committed while NATS is down
        server = natsserver.start(port, tmp_path / "js")
        await writing
        await wait_until(lambda: _lag_is(relay, 0), timeout=30, what="the relay to catch up")
        checker = await bus.connect(url, name="checker")
        await assert_stream_holds_exactly(checker.jetstream(), service, store)
    finally:
        stop.set()
        writing.cancel()
        await asyncio.wait_for(running, 10)
        for conn in (nc, checker):
            if conn is not None:
                await conn.close()
        server.kill()
        server.wait()


async def _published_at_least(relay: OutboxRelay, n: int) -> bool:
    return relay.published >= n


async def test_replicas_relays_of_one_service_publish_each_event_once(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """Two replicas' relays over one store, running while events are appended: the stream
    holds each event once, in order; on PostgreSQL they take turns, so no copy is sent."""
    appender = Appender(store, f"replicas-{unique}")
    relays = [OutboxRelay(store, js, service, batch=50, idle_wait=0.01) for _ in range(2)]
    stop = asyncio.Event()
    running = [asyncio.create_task(r.run(stop)) for r in relays]
    await appender.append(400, per_transaction=8, pause=0.001)
    await wait_until(lambda: _lag_is(relays[0], 0), what="the relays to catch up")
    stop.set()
    await asyncio.wait_for(asyncio.gather(*running), 5)
    await assert_stream_holds_exactly(js, service, store)
    assert await relays[1].position() == (await store.read_all(limit=1_000))[-1].position
    if store.engine.dialect.name == "postgresql":
        assert sum(r.published for r in relays) == 400
        assert all(r.published > 0 for r in relays)


async def test_a_commit_in_this_process_wakes_the_idle_relay(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """An idle relay sleeps (its look for other writers' events is a minute apart here)
    and is woken by this process's commit: the event is published long before that."""
    relay = OutboxRelay(store, js, service, idle_wait=60.0)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.3)  # idle: the relay is waiting
        await store.append(f"wake-{unique}", 0, [NewEvent("Happened", b"1")])

        async def published() -> bool:
            return len(await stream_messages(js, service)) == 1

        await wait_until(published, timeout=10, what="the woken relay to publish")
    finally:
        stop.set()
        task.cancel()  # rather than wait out the minute
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_relay_records_its_position_now_and_then_and_when_it_stops(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """SQLite: the relay keeps its position in memory and records it at most every
    `record_every` s and when it stops; a relay that dies in between leaves a position
    behind, and the next one publishes those events again, which the broker drops
    (Nats-Msg-Id). PostgreSQL: every pass records (replicas take turns on the row)."""
    appender = Appender(store, f"record-{unique}")
    relay = OutboxRelay(store, js, service, idle_wait=0.05, record_every=60.0)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await appender.append(10)
        await wait_until(lambda: _published_at_least(relay, 10), what="the first events")
        first = await relay.recorded()
        for _ in range(5):
            await appender.append(10)
            await wait_until(lambda: _lag_is(relay, 0), what="the next events")
        last = (await store.read_all(limit=1_000))[-1].position
        assert await relay.position() == last
        died_at = await relay.recorded()  # what a relay killed now would leave
        if store.engine.dialect.name == "postgresql":
            assert died_at == last
        else:
            assert 0 < first == died_at < last
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert await relay.recorded() == last

    # Had it been killed before that stop, the next relay would continue from `died_at`.
    async with store.engine.begin() as conn:
        await conn.execute(update(relay_offsets).where(relay_offsets.c.name == relay.name)
                           .values(position=died_at))
    again = OutboxRelay(store, js, service)
    assert await drain(again) == len(await store.read_all(died_at, limit=1_000))
    await assert_stream_holds_exactly(js, service, store)


async def test_the_relay_publishes_what_this_process_committed_without_reading_it_back(
        engine: AsyncEngine, store: EventStore, js: JetStreamContext, service: str,
        unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: the events a transaction of this process committed are handed to the relay,
    which reads the table only for what it was not handed; an append by another process
    (here another engine on the same file) between two of this one's is still published,
    in position order. PostgreSQL: the relay reads everything, under its row lock."""
    reads: list[int] = []
    read_all = store.read_all

    async def counted(after_position: int = 0, limit: int = 1000,
                      conn: AsyncConnection | None = None) -> list[StoredEvent]:
        reads.append(after_position)
        return await read_all(after_position, limit, conn)

    relay = OutboxRelay(store, js, service)
    await relay.publish_pending()  # its position read, nothing to publish
    monkeypatch.setattr(store, "read_all", counted)
    await store.append(f"mine-{unique}", 0, [NewEvent("A", b"a"), NewEvent("B", b"b")])
    assert await drain(relay) == 2
    handed_only = list(reads)

    other_engine = create_engine(str(engine.url))
    try:
        await EventStore(other_engine).append(f"theirs-{unique}", 0, [NewEvent("C", b"c")])
    finally:
        await other_engine.dispose()
    await store.append(f"mine-{unique}", 2, [NewEvent("D", b"d")])
    assert await drain(relay) == 2
    monkeypatch.undo()
    await assert_stream_holds_exactly(js, service, store)
    published = await stream_messages(js, service)
    assert [e.event_type for e in published] == ["A", "B", "C", "D"]
    if engine.dialect.name == "sqlite":
        assert handed_only == [2]  # the drain's last pass looks once, and finds nothing
    else:
        assert handed_only == [0, 2]
