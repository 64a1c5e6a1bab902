"""Subscriptions: what a service reads of the event streams, declared in its bootstrap.

A service lists its subscriptions (source service, event types, durable name, handler);
the host runs a durable consumer for each, once its source stream exists. The table of
all of them is the system's topology (`topology`), shown in docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext

from kernel.bus import stream_name, subject
from kernel.consumer import BatchHandler, DurableConsumer, OnItsOwn

# The linger of a view's consumers (projections, webhook fan-outs): their work nobody
# waits on at once, so each batch's first event waits this long for more. A consumer takes
# at most a batch per linger: a view's batch of 1,024 keeps it above 20,000 events a second.
VIEW_LINGER = 0.05
VIEW_BATCH = 1024


@dataclass(frozen=True)
class EventSubscription:
    """Events of `events` types from `source`'s stream, to `handler`, under `durable`
    (several processes under one durable share the work). `only_new` starts a new
    durable at messages published from its creation on. `linger` (seconds) holds a
    batch's first message that long for more to come (kernel/consumer.py): for a
    consumer whose work nobody waits on, fewer and larger batches."""

    source: str
    events: tuple[str, ...]
    durable: str
    handler: BatchHandler | OnItsOwn
    batch: int = 64
    workers: int = 1
    ack_wait: float = 30.0
    only_new: bool = False
    linger: float = 0.0

    def consumer(self, js: JetStreamContext) -> DurableConsumer:
        return DurableConsumer(js, self.source, self.durable, self.handler,
                               filter_subjects=[subject(self.source, t) for t in self.events],
                               batch=self.batch, ack_wait=self.ack_wait,
                               workers=self.workers, only_new=self.only_new,
                               linger=self.linger)


HEADER = ("| publisher | stream | subscriber | durable | events |\n"
          "|---|---|---|---|---|\n")


def topology(declared: Mapping[str, Sequence[EventSubscription]]) -> str:
    """The subscriptions of each service (by subscriber) as a Markdown table, one row per
    durable, sorted by publisher, then subscriber, then durable."""
    rows = sorted((s.source, subscriber, s.durable, ", ".join(s.events))
                  for subscriber, subs in declared.items() for s in subs)
    return HEADER + "".join(
        f"| {source} | `{stream_name(source)}` | {subscriber} | `{durable}` | {events} |\n"
        for source, subscriber, durable, events in rows)
