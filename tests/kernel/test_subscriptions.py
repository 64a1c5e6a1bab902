"""Subscriptions declared in a service's bootstrap, run by the host: each starts once its
source stream exists (another service creates it), and a stop ends the wait; the table
of them all is the topology docs/architecture.md shows."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path

from nats.js import JetStreamContext

from kernel import bus
from kernel.config import Settings
from kernel.eventstore import EventStore, NewEvent
from kernel.host import Infra, Parts, ServiceHost
from kernel.relay import OutboxRelay
from kernel.subscriptions import EventSubscription, topology
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
        await store.append(f"late-{unique}", 0, [NewEvent(t, b"x") for t in
                                                  ("Wanted", "Unwanted", "Wanted")])
        relay = OutboxRelay(store, js, late)
        while await relay.publish_pending():
            pass

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
