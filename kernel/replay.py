"""Replaying a stream: every message on some subjects of a service's stream, first to last,
in batches, for a projection's rebuild.

The messages come through pull requests on a plain subscription, one request of a
batch's size at a time and the next asked for as soon as it is filled (so it arrives while
the caller applies the one before), at most `AHEAD` batches in hand. nats-py's `fetch`
costs a task, a timer and a uuid per message (`next_msg`), and its header parse (a
generator over every header name's characters) was a quarter of a rebuild's CPU: so the
subscription's messages are routed to the replay as the protocol parser hands them over,
raw, and the one header it needs is cut out of the header block by hand (kernel/wire.py,
which the live consumers use too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from kernel import progress
from kernel.bus import Envelope, stream_name, subject
from kernel.wire import sb_event, subscribe_raw, unsubscribe_raw

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
                 size: int) -> AsyncIterator[list[Envelope]]:
    """Every message on `subjects` of the service's stream, first to last, in batches of
    up to `size`, up to the last one the stream held when the replay began."""
    stream = stream_name(service)
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                            filter_subjects=subjects, inactive_threshold=60.0)
    consumer = await js.add_consumer(stream, config)
    puller = Puller(js, stream, consumer.name, size, info.state.last_seq)
    await puller.start()
    try:
        while (batch := await puller.take()) is not None:
            if report := progress.current():
                report.advance(len(batch))
            yield batch
    finally:
        await puller.close()


class Puller:
    """The batches of one ephemeral consumer, handed over through a queue; an exception
    met on the way (a message that cannot be read) is handed over too, and raised."""

    def __init__(self, js: JetStreamContext, stream: str, consumer: str, size: int,
                 last: int) -> None:
        self.js = js
        self.nc = js._nc
        self.next_subject = f"{js._prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.stream, self.consumer = stream, consumer
        self.size, self.last = size, last
        self.filling: list[Envelope] = []
        # Handed over from the connection's read loop: nothing there may wait on NATS.
        self.ready: asyncio.Queue[list[Envelope] | BaseException | None] = asyncio.Queue()
        self.asking = False  # a pull request is out
        self.done = False
        self.inbox = self.nc.new_inbox()
        self.sub: Subscription | None = None

    async def start(self) -> None:
        self.sub = await subscribe_raw(self.nc, self.inbox, self._received)
        await self._ask()

    async def take(self) -> list[Envelope] | None:
        while (item := await self.ready.get()) is ENDED:
            if await self._exhausted():
                return None
        if isinstance(item, BaseException):
            raise item
        if item is not None and not self.done and not self.asking:
            await self._ask()  # the reader had fallen AHEAD batches behind
        return item

    async def _exhausted(self) -> bool:
        """After a request that ended short: whether the consumer has nothing left (its
        stream cut short meanwhile); if it has, ask again."""
        info = await self.js.consumer_info(self.stream, self.consumer)
        if info.num_pending == 0 and not info.num_waiting and self.ready.empty():
            self.done = True
            return True
        if not self.asking:
            await self._ask()
        return False

    async def close(self) -> None:
        self.done = True
        if self.sub is not None:
            await unsubscribe_raw(self.nc, self.sub)
        # An ephemeral consumer would go after its inactive threshold; this is sooner.
        with contextlib.suppress(Exception):  # gone already, or NATS away: it expires
            await self.js.delete_consumer(self.stream, self.consumer)

    async def _ask(self) -> None:
        self.asking = True
        request = {"batch": self.size, "expires": int(WAIT * 1e9)}
        await self.nc.publish(self.next_subject, json.dumps(request).encode(),
                              reply=self.inbox)

    async def _received(self, msg_subject: bytes, reply: bytes, data: bytes,
                        headers: bytes) -> None:
        if self.done:
            return
        try:
            if not reply:  # a status: this request ended (expired, or nothing left)
                self.asking = False
                self._hand_over()
                self.ready.put_nowait(ENDED)
                return
            ack = reply.decode()
            envelope = Envelope.decode(msg_subject.decode(), ack, data, sb_event(headers))
            self.filling.append(envelope)
            if envelope.stream_sequence >= self.last or _nothing_pending(ack):
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


def _nothing_pending(reply: str) -> bool:
    """Whether the consumer has no more for us: the usual reply subject's last token is
    the count, read without splitting the subject of every message."""
    if reply.count(".") == 8:
        return reply.endswith(".0")
    return _pending(reply) == 0


def _pending(reply: str) -> int:
    """How many more the consumer has for us, off the `$JS.ACK...` reply subject."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        return int(tokens[8])
    return Msg(_client=None, reply=reply).metadata.num_pending or 0  # type: ignore[arg-type]
