"""MessagingService.WatchMessages: a user's status changes, live.

Fed by one `StatusHub` per process: core NATS subscriptions to the very subjects the
history and inbox projections read (`sb.messaging.MessageQueued`, `sb.device.Message*`,
`sb.device.MessageReceived`: a message that arrived, sent as a `received` event), held while
any call watches. Each event is decoded once, into the same partial `HistoryEntry` the
projection folds, and handed to the calls watching its user only, so many open streams
cost one decode per event, not one per stream (`switchboard_status_stream_events_decoded`
counts them). Live only: no replay.

kernel/rpc.py's interceptor admits this stream by service token (a user token is never
accepted here) and turns its domain errors into statuses as for unary calls, but starts
no trace: this handler starts the call's trace from the `x-correlation-id` metadata
itself. A subscriber too slow to keep up is ended with `StatusStreamBehindError`
(RESOURCE_EXHAUSTED, RATE_LIMITED: reconnect).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

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
        for queue in self._watchers.get(item[1].user_id, ()):
            _offer(queue, item)


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
                            ) -> AsyncGenerator[pb.MessageStatusEvent, None]:
        meta = dict(context.invocation_metadata() or ())
        trace.begin(str(meta.get(CORRELATION_KEY, "")))
        queue = await self.hub.watch(request.user_id)
        try:
            await context.send_initial_metadata(())
            while (item := await queue.get()) is not None:
                yield await self._reply(*item)
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
