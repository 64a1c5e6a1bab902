"""A subscription's messages many at a time, cut straight off the connection's read buffer.

`route_raw` (kernel/wire.py) still leaves each message to nats-py's protocol parser: for
every message a few regular expressions tried in turn, its parts copied out of the buffer
and the buffer cut, then two coroutines awaited to hand it over. A replay takes tens of
thousands of messages a second on one connection, and that was about a fifth of a
rebuild's CPU. Here each run of whole messages with headers for such subscriptions at the
head of what the connection has read is taken out of the buffer in one pass and handed
over as one list; anything else goes to nats-py's parser as before.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.protocol.parser import AWAITING_CONTROL_LINE, Parser

from kernel.wire import subscribe_raw, unsubscribe_raw

RawMessage = tuple[bytes, bytes, bytes, bytes]  # subject, reply, payload, header block
ManyHandler = Callable[[list[RawMessage]], Awaitable[None]]
_ROUTES = "_switchboard_many_routes"
# nats-py's HMSG_RE, matched at any offset: subject, sid, reply (or none), sizes.
_HMSG = re.compile(rb"HMSG\s+(\S+)\s+(\d+)\s+(?:(\S+)[^\S\r\n]+)?(\d+)\s+(\d+)\r\n")


async def subscribe_many(nc: NATS, subject: str, handler: ManyHandler) -> Subscription:
    """A subscription whose messages go to `handler` in lists, in the order they came: a
    run at a time off the buffer (`route_many`), one at a time when nats-py parses them."""
    async def one(msg_subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        await handler([(msg_subject, reply, data, headers)])

    sub = await subscribe_raw(nc, subject, one)
    route_many(nc, sub._id, handler)
    return sub


async def unsubscribe_many(nc: NATS, sub: Subscription) -> None:
    getattr(nc, _ROUTES, {}).pop(sub._id, None)
    await unsubscribe_raw(nc, sub)


def route_many(nc: NATS, sid: int, handler: ManyHandler) -> None:
    """Hand the messages of subscription `sid` that come in a run to `handler` as one
    list. The connection's parser is wrapped once, on its first route; a run stops at
    anything else (another subscription's message, a PING, a message without headers)
    and nats-py parses the rest, so the subscription needs its `route_raw` too."""
    routes: dict[int, ManyHandler] | None = getattr(nc, _ROUTES, None)
    if routes is None:
        routes = {}
        setattr(nc, _ROUTES, routes)
        parser = nc._ps
        parse = parser.parse

        async def parse_runs(data: bytes = b"") -> None:
            parser.buf.extend(data)
            if not await _cut_run(parser, routes):
                await parse()

        parser.parse = parse_runs  # type: ignore[method-assign]
    routes[sid] = handler


async def _cut_run(parser: Parser, routes: dict[int, ManyHandler]) -> bool:
    """Take the run of routed messages at the head of the parser's buffer out of it and
    hand them over; whether the run stopped at a routed message not yet wholly read (the
    rest of it comes with the next read)."""
    if parser.state != AWAITING_CONTROL_LINE:
        return False
    buf, at, partial = parser.buf, 0, False
    taken: dict[int, list[RawMessage]] = {}
    while (head := _HMSG.match(buf, at)) is not None and (sid := int(head[2])) in routes:
        start = head.end()
        split, end = start + int(head[4]), start + int(head[5])
        if len(buf) < end + 2:
            partial = True
            break
        taken.setdefault(sid, []).append(
            (head[1], head[3] or b"", bytes(buf[split:end]), bytes(buf[start:split])))
        at = end + 2
    del buf[:at]
    for sid, messages in taken.items():
        if (route := routes.get(sid)) is not None:
            await route(messages)
    return partial
