"""Messages many at a time off the read buffer (kernel/wire_many.py): nats-py's own parser
on a client that records what it is handed, fed the same bytes in pieces of every size."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.protocol.parser import Parser

from kernel.wire import route_raw
from kernel.wire_many import RawMessage, route_many

ROUTED, OTHER = 7, 9


class Recording:
    """What a connection is handed by its parser: messages the usual way, PINGs."""

    def __init__(self) -> None:
        self._ps = Parser(self)
        self.usual: list[tuple[Any, ...]] = []
        self.pings = 0

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes,
                           headers: bytes | None) -> None:
        self.usual.append((sid, subject, reply, data, headers))

    async def _process_ping(self) -> None:
        self.pings += 1


def hmsg(sid: int, subject: bytes, reply: bytes, headers: bytes, data: bytes) -> bytes:
    line = b" ".join(p for p in (b"HMSG", subject, b"%d" % sid, reply,
                                 b"%d" % len(headers), b"%d" % (len(headers) + len(data))) if p)
    return line + b"\r\n" + headers + data + b"\r\n"


EVENT = b"NATS/1.0\r\nSb-Event: e1 1 2026-01-01T00:00:00+00:00 c  s\r\n\r\n"
STATUS = b"NATS/1.0 408 Request Timeout\r\n\r\n"
WIRE = [
    hmsg(ROUTED, b"sb.svc.A", b"$JS.ACK.S.C.1.1.1.1.2", EVENT, b"one"),
    hmsg(ROUTED, b"sb.svc.B", b"$JS.ACK.S.C.1.2.2.1.1", EVENT, b""),
    b"PING\r\n",
    hmsg(ROUTED, b"sb.svc.A", b"$JS.ACK.S.C.1.3.3.1.0", EVENT, b"three\r\nlines"),
    hmsg(OTHER, b"other", b"", EVENT, b"elsewhere"),
    hmsg(ROUTED, b"_INBOX.x", b"", STATUS, b""),
    b"MSG plain %d 5\r\nhello\r\n" % OTHER,
    hmsg(ROUTED, b"sb.svc.A", b"$JS.ACK.S.C.1.4.4.1.0", EVENT, b"four"),
]
ROUTED_MESSAGES = [
    (b"sb.svc.A", b"$JS.ACK.S.C.1.1.1.1.2", b"one", EVENT),
    (b"sb.svc.B", b"$JS.ACK.S.C.1.2.2.1.1", b"", EVENT),
    (b"sb.svc.A", b"$JS.ACK.S.C.1.3.3.1.0", b"three\r\nlines", EVENT),
    (b"_INBOX.x", b"", b"", STATUS),
    (b"sb.svc.A", b"$JS.ACK.S.C.1.4.4.1.0", b"four", EVENT),
]


async def feed(piece: int) -> tuple[Recording, list[list[RawMessage]]]:
    nc = Recording()
    runs: list[list[RawMessage]] = []

    async def many(messages: list[RawMessage]) -> None:
        runs.append(messages)

    async def one(subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        runs.append([(subject, reply, data, headers)])

    route_raw(nc, ROUTED, one)  # type: ignore[arg-type]
    route_many(nc, ROUTED, many)  # type: ignore[arg-type]
    wire = b"".join(WIRE)
    for at in range(0, len(wire), piece):
        await nc._ps.parse(wire[at:at + piece])
    return nc, runs


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 8, 13, 40, 64, 100, 1000])
async def test_every_message_comes_once_in_order_however_the_reads_are_cut(
        piece: int) -> None:
    nc, runs = await feed(piece)
    assert [m for run in runs for m in run] == ROUTED_MESSAGES
    assert nc.usual == [(OTHER, b"other", b"", b"elsewhere", EVENT),
                        (OTHER, b"plain", b"", b"hello", None)]
    assert nc.pings == 1
    assert not nc._ps.buf


async def test_a_run_read_at_once_is_handed_over_in_one_list() -> None:
    """The first two messages, read together, come as one list, without nats-py."""
    _, runs = await feed(1000)
    assert runs[0] == ROUTED_MESSAGES[:2]


def test_a_client_is_what_the_route_wraps() -> None:
    assert isinstance(NATS()._ps, Parser)
