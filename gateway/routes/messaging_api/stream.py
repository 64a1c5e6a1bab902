"""GET /api/messages/stream: the signed-in user's status changes as Server-Sent Events.

Each change is `id: <event id>`, `event: message.status`, `data: <the webhook JSON>`, and
each message that arrives for the user `event: message.received` with that webhook's
JSON; a `: heartbeat` comment follows every `status_stream_heartbeat_seconds` of quiet. Fed by
MessagingService.WatchMessages (live only: a reconnect's Last-Event-ID is accepted but
nothing is replayed; read missed statuses from /api/messages/message-status).

A stream holds a slot of its user's (429 RATE_LIMITED past `status_stream_max_per_user`)
and ends with `event: end` and its reason when the service ends it, when its token
expires, or when its user no longer stands (gateway/streamguard.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import grpc
from fastapi import Request
from fastapi.responses import StreamingResponse

from gateway.deps import CurrentUser, ServiceClients, bearer_claims
from gateway.errors import ApiError
from gateway.leanroute import api_router
from gateway.routes.messaging_api.messages import STATUS_WORDS
from gateway.shapes import json_refusals
from gateway.streamguard import Tenure, close_tenure, open_tenure
from kernel.clock import from_timestamp
from switchboard.messaging.v1 import messaging_pb2 as pb

router = api_router(prefix="/api/messages", tags=["messages"],
                   responses=json_refusals(401, 429))


class EventStream(StreamingResponse):
    """Server-Sent Events; as the route's response class, it names the document's type."""

    media_type = "text/event-stream"


def frame(event: pb.MessageStatusEvent) -> str:
    if event.HasField("received"):  # a message arrived: the message.received webhook body
        return f"id: {event.event_id}\nevent: message.received\ndata: {event.received_json}\n\n"
    data = {"event": "message.status", "queue_id": event.queue_id,
            "number": event.number or None, "status": STATUS_WORDS.get(event.status, "Queued"),
            "error_message": event.error_message or None,
            "timestamp": from_timestamp(event.timestamp).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    return (f"id: {event.event_id}\nevent: message.status\n"
            f"data: {json.dumps(data, separators=(',', ':'))}\n\n")


def end_frame(reason: str) -> str:
    return f"event: end\ndata: {json.dumps({'reason': reason})}\n\n"


async def sse(call: Any, heartbeat: float, tenure: Tenure,
              release: Callable[[], None]) -> AsyncIterator[str]:
    """The call's events as SSE frames, with heartbeats, while `tenure` holds; cancels
    the call and `release`s the stream's slot when done."""
    yield ": connected\n\n"
    reader = call.__aiter__()
    pending = asyncio.ensure_future(reader.__anext__())
    try:
        while await tenure.holds():
            done, _ = await asyncio.wait({pending},
                                         timeout=min(heartbeat, tenure.seconds_left()))
            if not done:
                yield ": heartbeat\n\n"
                continue
            try:
                batch = pending.result()
            except (StopAsyncIteration, grpc.aio.AioRpcError):
                tenure.ended = "service_ended"
                break
            yield "".join(frame(event) for event in batch.events)
            pending = asyncio.ensure_future(reader.__anext__())
        yield end_frame(tenure.ended)
    finally:
        release()
        pending.cancel()
        with contextlib.suppress(BaseException):
            await pending
        call.cancel()


@router.get("/stream", response_class=EventStream, responses={200: {
    "description": "`: connected`, then `message.status` events and heartbeats",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def stream(request: Request, user: CurrentUser,
                 clients: ServiceClients) -> EventStream:
    """The user's status changes as Server-Sent Events while the stream is open (no replay): a
    `message.status` event per change, a heartbeat comment every 15 s of quiet, `end` when the token
    expires or the user is disabled. At most 5 open streams per user (429)."""
    token, claims = bearer_claims(request)
    tenure = open_tenure(request, user.user_id, token, claims.expires_at)
    try:
        call = await _watch(clients, user.user_id)
    except BaseException:
        close_tenure(request, tenure)
        raise
    heartbeat = request.app.state.settings.status_stream_heartbeat_seconds
    frames = sse(call, heartbeat, tenure, partial(close_tenure, request, tenure))
    return EventStream(frames, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _watch(clients: ServiceClients, user_id: int) -> Any:
    """The user's status changes; the correlation id and the gateway's service token go
    with the call as with every other (kernel/rpc.py's channel interceptors)."""
    call = clients.messaging.WatchMessages(pb.WatchMessagesRequest(user_id=user_id))
    await call.initial_metadata()  # the service has subscribed: nothing after is missed
    if call.done() and await call.code() != grpc.StatusCode.OK:
        raise ApiError("SERVICE_UNAVAILABLE", "The status stream is unavailable; retry")
    return call

