"""Subscriptions: what a service reads of the event streams, declared in its bootstrap.

A service lists its subscriptions (source service, event types, durable name, handler);
the host runs a durable consumer for each, once its source stream exists. The table of
all of them is the system's topology (`topology`), shown in docs/architecture.md.

Subscriptions of one service to the same events of the same source, alike in everything
but durable and handler, share one consumer (`shared`): the first's durable, whose
batches go to each handler in turn and are acked once every one has taken them. Each
message is then delivered, decoded and acked once, not once per subscription (the
messaging history and its webhook fan-out read the same device events). A handler that
fails has the batch delivered again to all of them, which every handler already takes
(JetStream delivers at least once). The others' durables, from a store of an earlier
version, are drained by their own handlers and then removed (`ServiceHost`), so what they
had not yet taken is not skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from nats.js import JetStreamContext

from kernel.bus import Envelope, stream_name, subject
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
    sharing: tuple[str, ...] = ()  # durables of alike subscriptions this one runs for

    def alike(self, other: EventSubscription) -> bool:
        """Whether the two may share a consumer: the same events of the same source,
        taken alike (the durable and the handler may differ)."""
        if isinstance(self.handler, OnItsOwn) or isinstance(other.handler, OnItsOwn):
            return False  # settled a message at a time: a batch is not passed on whole
        return set(self.events) == set(other.events) and dataclasses.replace(
            other, events=self.events, durable=self.durable, handler=self.handler,
            sharing=self.sharing) == self

    def consumer(self, js: JetStreamContext) -> DurableConsumer:
        return DurableConsumer(js, self.source, self.durable, self.handler,
                               filter_subjects=[subject(self.source, t) for t in self.events],
                               batch=self.batch, ack_wait=self.ack_wait,
                               workers=self.workers, only_new=self.only_new,
                               linger=self.linger)


def shared(declared: Sequence[EventSubscription]
           ) -> tuple[list[EventSubscription], list[EventSubscription]]:
    """The consumers to run for a service's declared subscriptions, alike ones as one
    (the first's durable, a batch to each handler in turn), and the subscriptions whose
    durables another now runs in their place: their own, to drain and remove."""
    groups: list[list[EventSubscription]] = []
    for sub in declared:
        group = next((g for g in groups if g[0].alike(sub)), None)
        if group is None:
            groups.append([sub])
        else:
            group.append(sub)
    run = [g[0] if len(g) == 1 else _one_for(g) for g in groups]
    return run, [sub for g in groups for sub in g[1:]]


def _one_for(group: list[EventSubscription]) -> EventSubscription:
    # batch handlers all: `alike` groups none that settles a message at a time
    handlers = cast(list[BatchHandler], [sub.handler for sub in group])

    async def each(batch: Sequence[Envelope]) -> None:
        for handler in handlers:
            await handler(batch)

    return dataclasses.replace(group[0], handler=each,
                               sharing=tuple(s.durable for s in group[1:]))


HEADER = ("| publisher | stream | subscriber | durable | events |\n"
          "|---|---|---|---|---|\n")


def topology(declared: Mapping[str, Sequence[EventSubscription]]) -> str:
    """The consumers of each service's subscriptions (by subscriber, `shared`) as a
    Markdown table, one row per durable, sorted by publisher, then subscriber, then
    durable; a shared durable is named with those it runs for (`a` and `b`)."""
    rows = sorted((s.source, subscriber, _durable_cell(s), ", ".join(s.events))
                  for subscriber, subs in declared.items() for s in shared(subs)[0])
    return HEADER + "".join(
        f"| {source} | `{stream_name(source)}` | {subscriber} | {durable} | {events} |\n"
        for source, subscriber, durable, events in rows)


def _durable_cell(sub: EventSubscription) -> str:
    return " and ".join(f"`{d}`" for d in (sub.durable, *sub.sharing))
