"""Subscriptions declared in a service's bootstrap, run by the host: each starts once its
source stream exists (another service creates it), and a stop ends the wait; the table
of them all is the topology docs/architecture.md shows."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from kernel import bus
from kernel.config import Settings
from kernel.consumer import OnItsOwn
from kernel.eventstore import EventStore, NewEvent
from kernel.host import Infra, Parts, ServiceHost
from kernel.relay import OutboxRelay
from kernel.subscriptions import EventSubscription, shared, topology
from tests.kernel.conftest import wait_until
from tests.support.topology import table

DOCS = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _host(database_url: str, nats_url: str, unique: str,
          subs: Sequence[EventSubscription]) -> ServiceHost:
    async def build(infra: Infra) -> Parts:
        return Parts([], [], subscriptions=subs)

    return ServiceHost(f"host{unique}", Settings(database_url=database_url,
                                                 nats_url=nats_url), build)


async def test_a_subscription_starts_once_its_source_stream_exists(
        database_url: str, nats_url: str, store: EventStore, js: JetStreamContext,
        unique: str) -> None:
    late = f"late{unique}"
    seen: list[str] = []

    async def note(batch: Sequence[bus.Envelope]) -> None:
        seen.extend(e.event_type for e in batch)

    host = _host(database_url, nats_url, unique,
                 [EventSubscription(late, ("Wanted",), f"sub-{unique}", note)])
    await host.start("127.0.0.1:0")
    try:
        await asyncio.sleep(1.2)
        assert await _durables(js, late) is None  # no stream yet: nothing made of it
        await bus.ensure_stream(js, late)
        await _publish(store, js, late, ["Wanted", "Unwanted", "Wanted"], f"late-{unique}")

        async def both() -> bool:
            return seen == ["Wanted", "Wanted"]

        await wait_until(both, what="the subscription to read its stream")
        assert await _durables(js, late) == [f"sub-{unique}"]
    finally:
        await host.stop(grace=0.5)
        await js.delete_stream(bus.stream_name(late))
        await js.delete_stream(bus.stream_name(f"host{unique}"))


async def test_stop_ends_the_wait_for_a_stream_that_never_comes(
        database_url: str, nats_url: str, js: JetStreamContext, unique: str) -> None:
    async def never(batch: Sequence[bus.Envelope]) -> None:
        raise AssertionError("nothing to handle")

    host = _host(database_url, nats_url, unique,
                 [EventSubscription(f"never{unique}", ("Any",), f"sub-{unique}", never)])
    await host.start("127.0.0.1:0")
    await asyncio.sleep(0.3)
    await host.stop(grace=0.5)
    # every worker ended on the stop, none was cancelled as a straggler
    assert all(task.done() and not task.cancelled() for task in host._tasks)
    await js.delete_stream(bus.stream_name(f"host{unique}"))


async def _durables(js: JetStreamContext, service: str) -> list[str] | None:
    try:
        consumers = await js.consumers_info(bus.stream_name(service))
    except Exception:
        return None
    return sorted(c.name for c in consumers)


async def _publish(store: EventStore, js: JetStreamContext, service: str,
                   types: Sequence[str], stream: str) -> None:
    await store.append(stream, 0, [NewEvent(t, b"x") for t in types])
    relay = OutboxRelay(store, js, service)
    while await relay.publish_pending():
        pass


async def test_alike_subscriptions_share_one_durable_and_each_handler_takes_every_event(
        database_url: str, nats_url: str, store: EventStore, js: JetStreamContext,
        unique: str) -> None:
    """The same events of the same source, taken alike: one durable, whose batches go to
    both handlers; a batch one of them fails comes again to both, and is acked only once
    both took it."""
    source = f"src{unique}"
    first: list[str] = []
    second: list[str] = []
    failures = [1]

    async def one(batch: Sequence[bus.Envelope]) -> None:
        first.extend(e.event_id for e in batch)

    async def other(batch: Sequence[bus.Envelope]) -> None:
        if failures:
            failures.pop()
            raise RuntimeError("its store is away")
        second.extend(e.event_id for e in batch)

    await bus.ensure_stream(js, source)
    host = _host(database_url, nats_url, unique, [
        EventSubscription(source, ("A", "B"), f"one-{unique}", one),
        EventSubscription(source, ("B", "A"), f"other-{unique}", other)])
    await host.start("127.0.0.1:0")
    try:
        await _publish(store, js, source, ["A", "B", "C", "A"], f"s-{unique}")

        async def both_took_all() -> bool:
            return len(set(second)) == 3

        await wait_until(both_took_all, what="the second handler to take every event")
        assert set(first) == set(second)
        assert len(first) > len(set(first))  # the failed batch came to it again
        assert await _durables(js, source) == [f"one-{unique}"]
        info = await js.consumer_info(bus.stream_name(source), f"one-{unique}")
        assert (info.num_pending, info.num_ack_pending) == (0, 0)
    finally:
        await host.stop(grace=0.5)
        await js.delete_stream(bus.stream_name(source))
        await js.delete_stream(bus.stream_name(f"host{unique}"))


async def test_a_durable_whose_work_another_now_runs_is_drained_by_its_own_handler_then_removed(
        database_url: str, nats_url: str, store: EventStore, js: JetStreamContext,
        unique: str) -> None:
    """A store of an earlier version: the second subscription's durable held events its
    handler had not taken, while the first's had taken them all. They are not skipped."""
    source = f"old{unique}"
    taken: dict[str, list[str]] = {"one": [], "other": []}

    def noting(name: str) -> Callable[[Sequence[bus.Envelope]], Awaitable[None]]:
        async def note(batch: Sequence[bus.Envelope]) -> None:
            taken[name].extend(e.event_id for e in batch)
        return note

    subs = [EventSubscription(source, ("A",), f"one-{unique}", noting("one")),
            EventSubscription(source, ("A",), f"other-{unique}", noting("other"))]
    await bus.ensure_stream(js, source)
    behind = subs[1].consumer(js)
    await behind.prepare()  # made by the earlier version, then left behind
    ahead = subs[0].consumer(js)
    await ahead.prepare()
    await _publish(store, js, source, ["A", "A", "A"], f"s-{unique}")
    stop = asyncio.Event()
    running = asyncio.ensure_future(ahead.run(stop))

    async def first_took_them() -> bool:
        return await ahead.pending() == 0 and len(taken["one"]) == 3

    await wait_until(first_took_them, what="the first durable to take every event")
    stop.set()
    await running
    assert await behind.pending() == 3
    taken["one"].clear()

    host = _host(database_url, nats_url, unique, subs)
    await host.start("127.0.0.1:0")
    try:
        async def drained() -> bool:
            return await _durables(js, source) == [f"one-{unique}"]

        await wait_until(drained, what="the left-behind durable to be drained and removed")
        assert len(set(taken["other"])) == 3  # its handler took what it held
        assert taken["one"] == []  # the shared one had taken them already
        await _publish(store, js, source, ["A"], f"t-{unique}")

        async def both_took_the_new_one() -> bool:
            return len(taken["one"]) == 1 and len(set(taken["other"])) == 4

        await wait_until(both_took_the_new_one, what="a new event to reach both handlers")
    finally:
        await host.stop(grace=0.5)
        await js.delete_stream(bus.stream_name(source))
        await js.delete_stream(bus.stream_name(f"host{unique}"))


async def test_a_durable_retired_by_two_replicas_at_once_is_not_made_again(
        store: EventStore, js: JetStreamContext, unique: str) -> None:
    """Two replicas start together and both drain the left-behind durable: once one has
    removed it, the other's drain ends without making it again (made anew, it would
    deliver its whole stream once more)."""
    source = f"twice{unique}"
    started = asyncio.Event()
    release = asyncio.Event()
    taken: list[str] = []

    async def slow(batch: Sequence[bus.Envelope]) -> None:
        taken.extend(e.event_id for e in batch)
        started.set()
        await release.wait()

    sub = EventSubscription(source, ("A",), f"old-{unique}", slow)
    await bus.ensure_stream(js, source)
    await sub.consumer(js).prepare()
    await _publish(store, js, source, ["A", "A"], f"s-{unique}")
    stop = asyncio.Event()
    consumer = sub.consumer(js)
    retiring = asyncio.ensure_future(consumer.retire(stop))
    try:
        await asyncio.wait_for(started.wait(), 10)
        await js.delete_consumer(bus.stream_name(source), f"old-{unique}")  # the other one
        release.set()
        await asyncio.wait_for(retiring, 10)
        with pytest.raises(NotFoundError):  # what its workers would ask: found, not made
            await consumer.ensure()
        assert await _durables(js, source) == []
        assert len(taken) == 2  # the first batch only: nothing delivered anew
    finally:
        stop.set()
        release.set()
        await asyncio.gather(retiring, return_exceptions=True)
        await js.delete_stream(bus.stream_name(source))


def test_only_subscriptions_alike_but_for_durable_and_handler_share_a_consumer() -> None:
    async def handle(batch: Sequence[bus.Envelope]) -> None:
        return None

    async def own(envelope: bus.Envelope) -> None:
        return None

    a = EventSubscription("x", ("One", "Two"), "a", handle)
    run, taken_over = shared([
        a, EventSubscription("x", ("Two", "One"), "b", handle),
        EventSubscription("x", ("One", "Two"), "c", handle, linger=0.05),
        EventSubscription("x", ("One",), "d", handle),
        EventSubscription("y", ("One", "Two"), "e", handle),
        EventSubscription("x", ("One", "Two"), "f", OnItsOwn(own)),
        EventSubscription("x", ("One", "Two"), "g", handle)])
    assert [(s.durable, s.sharing) for s in run] == [
        ("a", ("b", "g")), ("c", ()), ("d", ()), ("e", ()), ("f", ())]
    assert [s.durable for s in taken_over] == ["b", "g"]
    assert run[0].handler is not handle
    assert shared([a]) == ([a], [])
    assert "| x | `SB_X` | s | `a` and `b` and `g` | One, Two |" in \
        topology({"s": [a, taken_over[0], taken_over[1]]}).splitlines()


def test_topology_is_one_row_per_durable_by_publisher_then_subscriber() -> None:
    async def handle(batch: Sequence[bus.Envelope]) -> None:
        return None

    declared = {"b": [EventSubscription("x", ("One", "Two"), "b-x", handle)],
                "a": [EventSubscription("x", ("Two",), "a-x", handle),
                      EventSubscription("a", ("Own",), "a-a", handle)]}
    assert topology(declared).splitlines() == [
        "| publisher | stream | subscriber | durable | events |",
        "|---|---|---|---|---|",
        "| a | `SB_A` | a | `a-a` | Own |",
        "| x | `SB_X` | a | `a-x` | Two |",
        "| x | `SB_X` | b | `b-x` | One, Two |",
    ]


async def test_the_architecture_doc_shows_the_declared_topology(
        fresh_nats_url: str, tmp_path: Path) -> None:
    """docs/architecture.md holds exactly the table the four bootstraps declare
    (regenerate it with `python -m tests.support.topology`)."""
    expected = await table(fresh_nats_url, tmp_path)
    shown = re.search(r"^\| publisher \| stream .*?(?=^[^|]|\Z)", DOCS.read_text(),
                      re.MULTILINE | re.DOTALL)
    assert shown is not None, "no topology table in docs/architecture.md"
    assert shown.group(0).rstrip("\n") + "\n" == expected
