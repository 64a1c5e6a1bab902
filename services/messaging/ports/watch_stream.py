"""MessagingService.WatchMessages: a user's status changes, live.

Fed by one `StatusHub` per process: core NATS subscriptions to the very subjects the
history and inbox projections read (`sb.messaging.MessageQueued`, `sb.device.Message*`,
`sb.device.MessageReceived`: a message that arrived, sent as a `received` event), held while
any call watches. Each event is decoded once, into the same partial `HistoryEntry` the
projection folds, and handed to the calls watching its user only, so many open streams
cost one decode per event, not one per stream (`switchboard_status_stream_events_decoded`
counts them). A queued event carries its message's number and the device's later ones do
not, so the hub keeps the numbers of the last `NUMBERS_KEPT` messages queued and gives each
later status its number from there; only a message queued before the hub subscribed costs
a read of the history. Live only: no replay.

kernel/rpc.py's interceptor admits this stream by service token (a user token is never
accepted here) and turns its domain errors into statuses as for unary calls, but starts
no trace: this handler starts the call's trace from the `x-correlation-id` metadata
itself. A subscriber too slow to keep up is ended with `StatusStreamBehindError`
(RESOURCE_EXHAUSTED, RATE_LIMITED: reconnect).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator
from dataclasses import replace

import grpc
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from prometheus_client import Counter

from kernel import context as trace
from kernel.bus import subject
from kernel.clock import to_timestamp
from kernel.rpc import CORRELATION_KEY
from services.messaging.adapters.held_subscription import HeldSubscription
from services.messaging.adapters.history_projection import DEVICE_EVENTS, live_fact
from services.messaging.adapters.inbox_projection import RECEIVED_EVENT, live_received
from services.messaging.app.dependencies import HistoryReader
from services.messaging.domain.errors import StatusStreamBehindError
from services.messaging.domain.inbox import InboundEntry, received_body
from services.messaging.domain.lifecycle import HistoryEntry
from services.messaging.ports.inbox_grpc import inbound_reply
from switchboard.messaging.v1 import messaging_pb2 as pb

RECEIVED_SUBJECT = subject("device", RECEIVED_EVENT)
SUBJECTS = [subject("messaging", "MessageQueued"),
            *(subject("device", t) for t in DEVICE_EVENTS), RECEIVED_SUBJECT]
BACKLOG = 1000
REPLY_BATCH = 64  # changes per reply at most (proto: MessageStatusEvents)
NUMBERS_KEPT = 10_000
DECODED = Counter("switchboard_status_stream_events_decoded",
                  "Status events decoded for live status streams (once per event)")
Fact = HistoryEntry | InboundEntry
Item = tuple[str, Fact] | None  # None: the end marker of a queue that fell behind


def event_reply(event_id: str, fact: HistoryEntry, number: str | None) -> pb.MessageStatusEvent:
    return pb.MessageStatusEvent(
        event_id=event_id, queue_id=fact.queue_id, number=number or "",
        status=pb.Status.Value(f"STATUS_{fact.status.name}"),
        error_message=fact.error_message or "",
        timestamp=to_timestamp(fact.updated_at))


class StatusHub:
    """One subscription for all of this process's status streams, routed by user."""

    def __init__(self, nc: NATS) -> None:
        self._watchers: dict[int, set[asyncio.Queue[Item]]] = {}
        self._numbers = KnownNumbers()
        self._held = HeldSubscription(nc, SUBJECTS, self._on_msg)

    async def watch(self, user_id: int) -> asyncio.Queue[Item]:
        """A queue of `user_id`'s changes from now on (subscribed when this returns)."""
        queue: asyncio.Queue[Item] = asyncio.Queue(BACKLOG)
        await self._held.hold()
        self._watchers.setdefault(user_id, set()).add(queue)
        return queue

    async def unwatch(self, user_id: int, queue: asyncio.Queue[Item]) -> None:
        mine = self._watchers.get(user_id, set())
        mine.discard(queue)  # at once, even if this call is being cancelled
        if not mine:
            self._watchers.pop(user_id, None)
        await self._held.release()  # the last watcher left: stop decoding at all

    async def _on_msg(self, msg: Msg) -> None:
        DECODED.inc()
        item: tuple[str, Fact] | None = (live_received(msg) if msg.subject == RECEIVED_SUBJECT
                                         else live_fact(msg))
        if item is None or (isinstance(item[1], HistoryEntry) and not item[1].queue_id):
            return
        if isinstance(item[1], HistoryEntry):
            item = (item[0], self._numbers.fill(item[1]))
        for queue in self._watchers.get(item[1].user_id, ()):
            _offer(queue, item)


class KnownNumbers:
    """The numbers of the last `size` messages seen queued, by queue id."""

    def __init__(self, size: int = NUMBERS_KEPT) -> None:
        self.size = size
        self._numbers: OrderedDict[str, str] = OrderedDict()

    def fill(self, fact: HistoryEntry) -> HistoryEntry:
        """`fact`, with its message's number if it has none and the message was seen;
        a fact with a number (a queued one) has it kept."""
        if fact.number:
            self._numbers[fact.queue_id] = fact.number
            if len(self._numbers) > self.size:
                self._numbers.popitem(last=False)
            return fact
        number = self._numbers.get(fact.queue_id)
        return fact if number is None else replace(fact, number=number)


async def _waiting(queue: asyncio.Queue[Item]) -> list[Item]:
    """The next item and whatever else is waiting behind it, up to `REPLY_BATCH`: a busy
    stream writes a reply per batch, not per change (each write and read of a gRPC stream
    waits a turn of the event loop on both ends)."""
    items = [await queue.get()]
    while len(items) < REPLY_BATCH and not queue.empty():
        items.append(queue.get_nowait())
    return items


def _offer(queue: asyncio.Queue[Item], item: Item) -> None:
    if queue.full():
        return
    if queue.qsize() >= BACKLOG - 1:
        queue.put_nowait(None)  # the one slot kept for the end marker
        return
    queue.put_nowait(item)


class StatusWatch:
    """WatchMessages, which the servicer hands each call to."""

    def __init__(self, nc: NATS, history: HistoryReader) -> None:
        self.hub = StatusHub(nc)
        self.history = history

    async def WatchMessages(self, request: pb.WatchMessagesRequest,
                            context: grpc.aio.ServicerContext
                            ) -> AsyncGenerator[pb.MessageStatusEvents, None]:
        meta = dict(context.invocation_metadata() or ())
        trace.begin(str(meta.get(CORRELATION_KEY, "")))
        queue = await self.hub.watch(request.user_id)
        try:
            await context.send_initial_metadata(())
            while True:
                items = await _waiting(queue)
                behind = items[-1] is None  # the end marker is always the last item
                facts = [item for item in items if item is not None]
                if facts:
                    yield pb.MessageStatusEvents(
                        events=[await self._reply(*fact) for fact in facts])
                if behind:
                    break
        finally:
            await self.hub.unwatch(request.user_id, queue)
        raise StatusStreamBehindError()

    async def _reply(self, event_id: str, fact: Fact) -> pb.MessageStatusEvent:
        if isinstance(fact, InboundEntry):
            return pb.MessageStatusEvent(event_id=event_id, received=inbound_reply(fact),
                                         timestamp=to_timestamp(fact.received_at),
                                         received_json=received_body(fact).decode())
        number = fact.number
        if not number:
            entry = await self.history.entry(fact.queue_id)
            number = entry.number if entry else None
        return event_reply(event_id, fact, number)
