"""JetStream on the wire: pull requests and the messages they bring, and publishes and
their acks, taken raw.

nats-py's pull subscription costs, for every message it hands over, a task, a timer and a
uuid (`next_msg`) and a parse of every header into a dict (a generator over each header
name's characters); its `fetch` adds a request's inbox token, a future and a `wait_for`.
A consumer taking a dozen events per message paid that a dozen times. Here the
subscription's messages are routed as the protocol parser hands them over (`route_raw`),
kept as they came (`Delivery`) until the consumer decodes them, and acked by publishing
to their reply subject, as nats-py's `Msg.ack` does.

The outbox relay's publishes had the same shape: nats-py's `js.publish` is a request
each (an inbox token, a future, a `wait_for`, a JSON parse into a dataclass). Here a
batch's publishes share one reply subject and one future, set once every ack has come
(`Publishes`).

A batch's messages, a relay's events or a consumer's acks, go out as one write of their
PUB commands (`publish_many`): nats-py's `publish` validates, builds and queues each
command on its own, and signals its flusher for each.

Each pull request has a reply subject of its own (`<inbox>.<n>`): JetStream delivers the
request's messages, and the status that ends it early, to that subject. So a status that
comes late, for a request given up on (its wait ran out while NATS reconnected), cannot end
a later request; its messages, if any come, are kept and taken first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from nats import errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from kernel.bus import H_EVENT, Envelope, usual_ack_tokens

ACK = b"+ACK"
NAK = b"-NAK"
# Statuses that end a pull request short: 404 nothing there (no_wait), 408 its expiry,
# 409 the server dropped it (its consumer's limits, a leader change): asked again.
ENDED_SHORT = (b"404", b"408", b"409")
HEARTBEAT = b"100"
ACK_WAIT = 5.0  # how long a batch of publishes waits for its acks (nats-py's own default)


class Delivery(NamedTuple):
    """One message from a pull, as the parser gave it."""

    subject: str
    reply: str  # `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...`
    data: bytes
    headers: bytes  # the raw header block

    def envelope(self) -> Envelope:
        return Envelope.decode(self.subject, self.reply, self.data, sb_event(self.headers))


def nothing_pending(reply: str) -> bool:
    """Whether a delivered message's consumer had no more for anyone when it was sent
    (the reply subject's last token, `kernel.bus.usual_ack_tokens`)."""
    if (tokens := usual_ack_tokens(reply)) is not None:
        return tokens[8] == "0"
    metadata = Msg(_client=None, reply=reply).metadata  # type: ignore[arg-type]
    return not metadata.num_pending


def stored_at(reply: str) -> float:
    """When a delivered message was stored in its stream (Unix seconds; the reply
    subject's eighth token is nanoseconds, `kernel.bus.usual_ack_tokens`)."""
    if (tokens := usual_ack_tokens(reply)) is not None:
        return int(tokens[7]) / 1e9
    metadata = Msg(_client=None, reply=reply).metadata  # type: ignore[arg-type]
    return metadata.timestamp.timestamp()


class PublishFailedError(Exception):
    """JetStream refused a publish (no stream for its subject, a limit): none of its
    batch is known to be stored, so the whole batch is published again."""


class PullFailedError(Exception):
    """The server refused a pull request (its consumer gone, say): pull anew."""


class Pulls:
    """One worker's pull requests on a consumer, one at a time, and what they bring."""

    def __init__(self, js: JetStreamContext, stream: str, consumer: str) -> None:
        self.nc: NATS = js._nc
        self.next_subject = f"{js._prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.inbox = self.nc.new_inbox()
        self.arrived: deque[Delivery] = deque()
        self.asked = 0  # the number of the request out
        self.ended = False  # the request out ended short
        self.failed: str | None = None  # the status line of a refused request
        self.timed_out = False
        self.last_reply: str | None = None  # of the last message to come
        self.wake = asyncio.Event()
        self._sub: Subscription | None = None
        self._watch: asyncio.Future[None] | None = None

    async def open(self, stop: asyncio.Event) -> None:
        """Subscribe to the requests' inbox; a wait of these pulls ends once `stop` is set."""
        self._sub = await subscribe_raw(self.nc, f"{self.inbox}.*", self._received)

        async def watch() -> None:
            await stop.wait()
            self.wake.set()

        self._watch = asyncio.ensure_future(watch())

    async def close(self) -> None:
        """Stop taking messages; the server drops a request whose subscription is gone,
        and what was delivered and not acked comes again after the consumer's ack wait."""
        if self._watch is not None:
            self._watch.cancel()
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await unsubscribe_raw(self.nc, sub)

    async def first(self, wait: float, stop: asyncio.Event) -> list[Delivery]:
        """The next message, waiting up to `wait` on the server for one; [] when none
        came, or once stopped."""
        if not self.arrived:
            await self._ask({"batch": 1, "expires": int(wait * 1e9)})
            # A little longer here than on the server, so its expiry status ends the wait.
            await self._until(lambda: bool(self.arrived) or self.ended or stop.is_set(),
                              wait + 1.0)
        self._raise_if_refused()
        return [self.arrived.popleft()] if self.arrived and not stop.is_set() else []

    async def now(self, most: int, answer_within: float) -> list[Delivery]:
        """Up to `most` messages the server holds now, without waiting for more: one
        request with `no_wait` (and no `expires`, with which the server lingers on it),
        read until the batch is full or the server's status ends it. `answer_within`
        bounds a slow answer; what comes after it is kept for the next call."""
        taken = self._take(most)
        if len(taken) < most:
            await self._ask({"batch": most - len(taken), "no_wait": True})
            while len(taken) < most:
                await self._until(lambda: bool(self.arrived) or self.ended, answer_within)
                if not self.arrived:
                    break
                taken += self._take(most - len(taken))
        self._raise_if_refused()
        return taken

    def drained(self) -> bool:
        """Whether nothing is in hand and the last message to come said its consumer
        had no more: a request for more now would come back empty."""
        return not self.arrived and self.last_reply is not None and \
            nothing_pending(self.last_reply)

    def _take(self, most: int) -> list[Delivery]:
        arrived = self.arrived
        return [arrived.popleft() for _ in range(min(most, len(arrived)))]

    async def _ask(self, request: dict[str, int | bool]) -> None:
        self.asked += 1
        self.ended = False
        await self.nc.publish(self.next_subject, json.dumps(request).encode(),
                              reply=f"{self.inbox}.{self.asked}")

    async def _until(self, ready: Callable[[], bool], seconds: float) -> None:
        timer = asyncio.get_running_loop().call_later(seconds, self._time_out)
        try:
            while True:
                self.wake.clear()
                if ready() or self.timed_out:
                    return
                await self.wake.wait()
        finally:
            timer.cancel()
            self.timed_out = False

    def _time_out(self) -> None:
        self.timed_out = True
        self.wake.set()

    def _raise_if_refused(self) -> None:
        if self.failed is not None:
            failed, self.failed = self.failed, None
            raise PullFailedError(f"pull on {self.next_subject}: {failed}")

    async def _received(self, msg_subject: bytes, reply: bytes, data: bytes,
                        headers: bytes) -> None:
        if reply:
            self.last_reply = reply.decode()
            self.arrived.append(Delivery(msg_subject.decode(), self.last_reply, data, headers))
        else:  # a status, for the request its subject names
            code = headers[9:12] if headers else b""
            if code == HEARTBEAT or msg_subject.rpartition(b".")[2] != b"%d" % self.asked:
                return
            self.ended = True
            if code not in ENDED_SHORT:
                self.failed = (headers or b"").split(b"\r\n", 1)[0].decode(errors="replace")
        self.wake.set()


class Publishes:
    """Publishes to JetStream, a batch at a time, whose acks are awaited together: the
    batch's messages are sent in order on the one connection (so the stream keeps their
    order) with one reply subject, and the batch is done when every ack has come."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.inbox = nc.new_inbox()
        self.sent = 0
        self.waiting: dict[bytes, _Acks] = {}
        self._open = False

    async def publish_all(self, messages: Sequence[tuple[str, bytes, dict[str, str]]]
                          ) -> None:
        """Every message stored by its stream, or an error: `PublishFailedError` when one
        was refused, `TimeoutError` when its acks did not all come within `ACK_WAIT`."""
        if not messages:
            return
        if not self._open:
            await subscribe_raw(self.nc, f"{self.inbox}.*", self._received)
            self._open = True
        self.sent += 1
        key, acks = b"%d" % self.sent, _Acks(len(messages))
        self.waiting[key] = acks
        reply = f"{self.inbox}.{self.sent}"
        try:
            await publish_many(self.nc, [(msg_subject, reply, payload, headers)
                                         for msg_subject, payload, headers in messages])
            await asyncio.wait_for(acks.done, ACK_WAIT)
        finally:
            del self.waiting[key]

    async def _received(self, msg_subject: bytes, reply: bytes, data: bytes,
                        headers: bytes) -> None:
        acks = self.waiting.get(msg_subject.rpartition(b".")[2])
        if acks is None or acks.done.done():
            return  # a batch given up on
        if not data or b'"error"' in data:
            acks.done.set_exception(PublishFailedError(_refusal(data, headers)))
            return
        acks.left -= 1
        if not acks.left:
            acks.done.set_result(None)


class _Acks:
    __slots__ = ("left", "done")

    def __init__(self, left: int) -> None:
        self.left = left
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


def _refusal(data: bytes, headers: bytes) -> str:
    """Why JetStream refused a publish: its error's description, or the status line (503:
    no stream listens on the subject)."""
    if data:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            error = json.loads(data)["error"]
            return f"{error.get('description', '')} ({error.get('err_code', '')})"
        return data.decode(errors="replace")
    return (headers or b"").split(b"\r\n", 1)[0].decode(errors="replace") or "no answer"


async def ack(nc: NATS, deliveries: Sequence[Delivery]) -> None:
    """Each of the messages acked, in one write."""
    await publish_many(nc, [(d.reply, "", ACK, None) for d in deliveries])


async def nak(nc: NATS, deliveries: Sequence[Delivery], delay: float) -> None:
    """Each of the messages put back, to come again after `delay` seconds (at once when
    0), in one write."""
    payload = NAK
    if delay:
        payload += b" " + json.dumps({"delay": int(delay * 1e9)}).encode()
    await publish_many(nc, [(d.reply, "", payload, None) for d in deliveries])


Outgoing = tuple[str, str, bytes, dict[str, str] | None]  # subject, reply, payload, headers
_NEWLINES = str.maketrans({"\r": " ", "\n": " "})


async def publish_many(nc: NATS, messages: Sequence[Outgoing]) -> None:
    """The messages published in order, their commands queued for the connection's
    flusher at once, as nats-py's `publish` queues each: the same bytes on the wire. While
    the connection is away (buffering and its limit) or closed, each goes through
    nats-py's `publish`, for its own handling of those."""
    if not nc.is_connected or nc.is_draining_pubs:
        for msg_subject, reply, payload, headers in messages:
            await nc.publish(msg_subject, payload, reply=reply, headers=headers)
        return
    commands = []
    size = 0
    for msg_subject, reply, payload, headers in messages:
        if len(payload) > nc._max_payload:
            raise errors.MaxPayloadError
        size += len(payload)
        if headers is None:
            commands.append(b"PUB %s %s %d\r\n%s\r\n" % (
                msg_subject.encode(), reply.encode(), len(payload), payload))
        else:
            block = ("NATS/1.0\r\n" + "".join(
                f"{k}: {v.strip().translate(_NEWLINES)}\r\n" for k, v in headers.items())
                + "\r\n").encode()
            commands.append(b"HPUB %s %s %d %d\r\n%s%s\r\n" % (
                msg_subject.encode(), reply.encode(), len(block), len(block) + len(payload),
                block, payload))
    if not commands:
        return
    nc.stats["out_msgs"] += len(commands)
    nc.stats["out_bytes"] += size
    await nc._send_command(b"".join(commands))
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()


_EVENT_LINE = b"\r\n" + H_EVENT.encode() + b":"


def sb_event(headers: bytes) -> str:
    """The Sb-Event header's value out of a raw header block (`NATS/1.0\r\nName: value
    \r\n...`), as nats-py would give it: stripped, UTF-8."""
    block = headers or b""
    start = block.find(_EVENT_LINE)
    if start < 0:
        raise ValueError(f"a message without its {H_EVENT} header")
    start += len(_EVENT_LINE)
    return block[start:block.index(b"\r\n", start)].strip().decode("utf-8", "replace")


RawHandler = Callable[[bytes, bytes, bytes, bytes], Awaitable[None]]
_ROUTES = "_switchboard_raw_routes"


def route_raw(nc: NATS, sid: int, handler: RawHandler) -> None:
    """Hand the messages of subscription `sid` to `handler` as the protocol parser gives
    them (subject, reply, payload, header block), before nats-py parses the headers and
    builds a Msg; other subscriptions' messages go the usual way. The connection's
    message entry point is wrapped once, on its first route."""
    routes: dict[int, RawHandler] | None = getattr(nc, _ROUTES, None)
    if routes is None:
        routes = {}
        setattr(nc, _ROUTES, routes)
        process = nc._process_msg

        async def routed(sid: int, msg_subject: bytes, reply: bytes, data: bytes,
                         headers: bytes) -> None:
            route = routes.get(sid)
            if route is None:
                await process(sid, msg_subject, reply, data, headers)
            else:
                await route(msg_subject, reply, data, headers)

        nc._process_msg = routed  # type: ignore[method-assign,assignment]
    routes[sid] = handler


async def subscribe_raw(nc: NATS, subject: str, handler: RawHandler) -> Subscription:
    """A subscription whose messages go to `handler` raw (`route_raw`)."""
    sub = await nc.subscribe(subject, cb=_unrouted)
    route_raw(nc, sub._id, handler)
    return sub


async def unsubscribe_raw(nc: NATS, sub: Subscription) -> None:
    getattr(nc, _ROUTES, {}).pop(sub._id, None)
    await sub.unsubscribe()


async def _unrouted(msg: Msg) -> None:
    """The subscription's own callback, for a message that came before its route."""
    raise RuntimeError(f"a message on {msg.subject} before its route was set")
