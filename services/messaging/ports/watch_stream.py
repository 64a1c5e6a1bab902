"""MessagingService.WatchMessages: a user's status changes, live.

Fed by core NATS subscriptions to the very subjects the history projection reads
(`sb.messaging.MessageQueued`, `sb.device.Message*`), filtered by user in the callback;
each becomes the same partial `HistoryEntry` the projection folds. Live only: no replay.

kernel/rpc.py's interceptor wraps unary calls only; for this stream it admits the call
by service token (a user token is never accepted here) and nothing more, so this handler
starts the call's trace from the `x-correlation-id` metadata itself and handles its own
errors. A subscriber too slow to keep up is ended with RESOURCE_EXHAUSTED (reconnect).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from kernel import context as trace
from kernel.bus import Envelope, subject
from kernel.rpc import CORRELATION_KEY
from services.messaging.adapters.history_projection import DEVICE_EVENTS, FACTS
from services.messaging.adapters.history_view import HistoryView
from services.messaging.domain.lifecycle import HistoryEntry
from switchboard.messaging.v1 import messaging_pb2 as pb

log = logging.getLogger(__name__)
SUBJECTS = [subject("messaging", "MessageQueued"),
            *(subject("device", t) for t in DEVICE_EVENTS)]
BACKLOG = 1000


def _fact(msg: Msg) -> tuple[str, HistoryEntry] | None:
    try:
        # A core subscriber sees the publisher's ack inbox as reply, not a JetStream one.
        envelope = Envelope.from_msg(dataclasses.replace(msg, reply=""))
        return envelope.event_id, FACTS[envelope.service](envelope)
    except Exception:
        log.warning("watch: undecodable message on %s", msg.subject)
        return None


def event_reply(event_id: str, fact: HistoryEntry, number: str | None) -> pb.MessageStatusEvent:
    stamp = Timestamp()
    stamp.FromDatetime(fact.updated_at)
    return pb.MessageStatusEvent(
        event_id=event_id, queue_id=fact.queue_id, number=number or "",
        status=pb.Status.Value(f"STATUS_{fact.status.name}"),
        error_message=fact.error_message or "", timestamp=stamp)


class StatusWatch:
    RPCS = ("WatchMessages",)

    def __init__(self, nc: NATS, history: HistoryView) -> None:
        self.nc = nc
        self.history = history

    async def WatchMessages(self, request: pb.WatchMessagesRequest,
                            context: grpc.aio.ServicerContext
                            ) -> AsyncIterator[pb.MessageStatusEvent]:
        meta = dict(context.invocation_metadata() or ())
        trace.begin(str(meta.get(CORRELATION_KEY, "")))
        queue: asyncio.Queue[tuple[str, HistoryEntry] | None] = asyncio.Queue(BACKLOG)
        subs = await self._subscribe(request.user_id, queue)
        try:
            await context.send_initial_metadata(())
            while (item := await queue.get()) is not None:
                yield await self._reply(*item)
        finally:
            for sub in subs:
                await sub.unsubscribe()
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                            "status stream fell behind; reconnect")

    async def _subscribe(self, user_id: int,
                         queue: asyncio.Queue[tuple[str, HistoryEntry] | None]) -> list[Any]:
        async def on_msg(msg: Msg) -> None:
            item = _fact(msg)
            if item is None or item[1].user_id != user_id or not item[1].queue_id:
                return
            if queue.full():
                return
            if queue.qsize() >= BACKLOG - 1:
                queue.put_nowait(None)  # the one slot kept for the end marker
                return
            queue.put_nowait(item)

        return [await self.nc.subscribe(s, cb=on_msg) for s in SUBJECTS]

    async def _reply(self, event_id: str, fact: HistoryEntry) -> pb.MessageStatusEvent:
        number = fact.number
        if not number:
            entry = await self.history.entry(fact.queue_id)
            number = entry.number if entry else None
        return event_reply(event_id, fact, number)
