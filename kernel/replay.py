"""Replaying a stream: every message on some subjects of a service's stream, first to last,
in batches, for a projection's rebuild.

The messages come through pull requests on a plain subscription, one request of a
batch's size at a time and the next asked for as soon as it is filled (so it arrives while
the caller applies the one before), at most `AHEAD` batches in hand. nats-py's `fetch`
costs a task, a timer and a uuid per message (`next_msg`), and its header parse (a
generator over every header name's characters) was a quarter of a rebuild's CPU: so the
subscription's messages are cut off the connection's read buffer a run at a time and
handed to the replay raw (kernel/wire_many.py), and the one header it needs is cut out of
the header block by hand (kernel/wire.py, which the live consumers use too).

A projection with several source streams replays them side by side (`interleaved`): each
batch holds every source's events recorded up to the same time, so the events about one
thing (a message queued, then sent and read on another stream) usually meet in one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from bisect import bisect_right
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import accumulate

from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from kernel import progress
from kernel.bus import Envelope, stream_name, subject
from kernel.wire import nothing_pending, sb_event
from kernel.wire_many import RawMessage, subscribe_many, unsubscribe_many

WAIT = 5.0  # how long one pull request may wait on the server for its messages
AHEAD = 2  # batches received and not yet taken, at most
ENDED: list[Envelope] = []  # handed over when a request ended short


async def expect_replay(js: JetStreamContext, sources: dict[str, Sequence[str]]) -> None:
    """Tell the current progress (kernel/progress.py), if any, how many events the
    sources' streams hold now: what a replay of them will go through."""
    report = progress.current()
    if report is None:
        return
    for service, types in sources.items():
        info = await js.stream_info(stream_name(service), subjects_filter=subject(service))
        counts = info.state.subjects or {}
        report.expect(sum(counts.get(subject(service, t), 0) for t in types))


async def replay(js: JetStreamContext, service: str, subjects: list[str],
                 size: int) -> AsyncGenerator[list[Envelope], None]:
    """Every message on `subjects` of the service's stream, first to last, in batches of
    up to `size`, up to the last one the stream held when the replay began."""
    stream = stream_name(service)
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return
    puller = Puller(js, stream, subjects, size, info.state.last_seq)
    await puller.start()
    try:
        while (batch := await puller.take()) is not None:
            if report := progress.current():
                report.advance(len(batch))
            yield batch
    finally:
        await puller.close()


async def interleaved(js: JetStreamContext, sources: dict[str, Sequence[str]],
                      size: int) -> AsyncIterator[dict[str, list[Envelope]]]:
    """The replays of every source (`replay`, batches of `size`) side by side: each batch
    holds, per source, its next events recorded up to one time, the time up to which every
    source's batch in hand reaches. Each source's own order is kept, and a source whose
    times go back is taken by the latest time it has reached."""
    async with contextlib.AsyncExitStack() as stack:
        held = []
        for service, types in sources.items():
            batches = replay(js, service, [subject(service, t) for t in types], size)
            held.append(_Held(service, await stack.enter_async_context(
                contextlib.aclosing(batches))))
        while held := [h for h in held if await h.fill()]:
            until = min(h.reached[-1] for h in held)
            parts = ((h.service, h.take(until)) for h in sorted(held, key=_by_service))
            yield {service: part for service, part in parts if part}


class _Held:
    """One source's batch in hand, with the latest time reached at each of its events."""

    def __init__(self, service: str, batches: AsyncIterator[list[Envelope]]) -> None:
        self.service, self.batches = service, batches
        self.events: list[Envelope] = []
        self.reached: list[datetime] = []
        self.at = 0  # the first event not yet taken

    async def fill(self) -> bool:
        """Whether it has events in hand (its next batch taken if it had none)."""
        if self.at == len(self.events):
            self.events, self.at = await anext(self.batches, []), 0
            self.reached = list(accumulate((e.recorded_at for e in self.events), max))
        return bool(self.events)

    def take(self, until: datetime) -> list[Envelope]:
        first, self.at = self.at, bisect_right(self.reached, until, self.at)
        return self.events[first:self.at]


def _by_service(held: _Held) -> str:
    return held.service


class Puller:
    """The batches of one ephemeral consumer, handed over through a queue; an exception
    met on the way (a message that cannot be read) is handed over too, and raised.

    A consumer without a request for longer than its inactive threshold is deleted by the
    server (a source held back by `interleaved` while the others catch up): a new one
    takes over from the message after the last that came. A request sent as its consumer
    went gets no answer at all; the wait for it ends after `WAIT` and a second."""

    def __init__(self, js: JetStreamContext, stream: str, subjects: list[str], size: int,
                 last: int) -> None:
        self.js = js
        self.nc = js._nc
        self.stream, self.subjects = stream, subjects
        self.consumer = self.next_subject = ""
        self.size, self.last = size, last
        self.came = 0  # the stream sequence of the last message to come
        self.filling: list[Envelope] = []
        # Handed over from the connection's read loop: nothing there may wait on NATS.
        self.ready: asyncio.Queue[list[Envelope] | BaseException | None] = asyncio.Queue()
        self.asking = False  # a pull request is out
        self.done = False
        self.inbox = self.nc.new_inbox()
        self.sub: Subscription | None = None

    async def start(self) -> None:
        self.sub = await subscribe_many(self.nc, self.inbox, self._received)
        await self._open()

    async def _open(self) -> None:
        """A consumer of the subjects from the message after the last that came; asked."""
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                                filter_subjects=self.subjects, inactive_threshold=60.0)
        if self.came:
            config = replace(config, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                             opt_start_seq=self.came + 1)
        consumer = await self.js.add_consumer(self.stream, config)
        self.consumer = str(consumer.name)
        self.next_subject = f"{self.js._prefix}.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}"
        await self._ask()

    async def take(self) -> list[Envelope] | None:
        while (item := await self._next()) is ENDED:
            if await self._exhausted():
                return None
        if isinstance(item, BaseException):
            raise item
        if item is not None and not self.done and not self.asking:
            await self._ask()  # the reader had fallen AHEAD batches behind
        return item

    async def _next(self) -> list[Envelope] | BaseException | None:
        """What the read loop handed over next; ENDED if nothing came for longer than a
        request waits on the server: its request was lost (sent as its consumer went)."""
        try:
            return await asyncio.wait_for(self.ready.get(), WAIT + 1.0)
        except TimeoutError:
            self.asking = False
            return ENDED

    async def _exhausted(self) -> bool:
        """After a request that ended short: whether the consumer has nothing left (its
        stream cut short meanwhile); if it has, ask again."""
        try:
            info = await self.js.consumer_info(self.stream, self.consumer)
        except NotFoundError:
            await self._open()
            return False
        if info.num_pending == 0 and not info.num_waiting and self.ready.empty():
            self.done = True
            return True
        if not self.asking:
            await self._ask()
        return False

    async def close(self) -> None:
        self.done = True
        if self.sub is not None:
            await unsubscribe_many(self.nc, self.sub)
        # An ephemeral consumer would go after its inactive threshold; this is sooner.
        with contextlib.suppress(Exception):  # gone already, or NATS away: it expires
            await self.js.delete_consumer(self.stream, self.consumer)

    async def _ask(self) -> None:
        self.asking = True
        request = {"batch": self.size, "expires": int(WAIT * 1e9)}
        await self.nc.publish(self.next_subject, json.dumps(request).encode(),
                              reply=self.inbox)

    async def _received(self, messages: list[RawMessage]) -> None:
        try:
            for msg_subject, reply, data, headers in messages:
                if self.done:
                    return
                if not reply:  # a status: this request ended (expired, or nothing left)
                    self.asking = False
                    self._hand_over()
                    self.ready.put_nowait(ENDED)
                    continue
                ack = reply.decode()
                envelope = Envelope.decode(msg_subject.decode(), ack, data, sb_event(headers))
                self.filling.append(envelope)
                self.came = envelope.stream_sequence
                if envelope.stream_sequence >= self.last or nothing_pending(ack):
                    self._hand_over(final=True)
                elif len(self.filling) >= self.size:
                    self.asking = False
                    self._hand_over()
                    if self.ready.qsize() < AHEAD:
                        await self._ask()
        except Exception as exc:  # noqa: BLE001 - raised to the reader
            self.done = True
            self.ready.put_nowait(exc)

    def _hand_over(self, final: bool = False) -> None:
        if self.filling:
            self.ready.put_nowait(self.filling)
            self.filling = []
        if final:
            self.done = True
            self.ready.put_nowait(None)
