"""`python -m bench.decode`: CPU microseconds to receive one event, without a server.

Each round feeds nats-py's own message path (`_process_headers`, `_build_message`) the
header block the relay publishes (`kernel.bus.headers_for`, encoded as nats-py sends it)
and turns the message into an `Envelope` (`kernel.bus.Envelope.from_msg`), as a replay
does for each fetched message. Prints the best of several rounds, with and without the
decode, and the load average: on a shared machine the best round is the least disturbed.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime

from nats.aio.client import Client as NATS

from kernel import bus
from kernel.eventstore import StoredEvent

ROUNDS, PER_ROUND = 9, 50_000
SUBJECT = b"sb.messaging.MessageQueued"
REPLY = b"$JS.ACK.SB_MESSAGING.replay.1.123456.123456.1764700000000000000.0"


def header_block(headers: dict[str, str]) -> bytes:
    """The header bytes nats-py puts on the wire for `headers` (and the server hands on)."""
    lines = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
    return b"NATS/1.0\r\n" + lines + b"\r\n"


def sample_event() -> StoredEvent:
    return StoredEvent(123456, str(uuid.uuid4()), "message-msg_0123456789abcdef", 1,
                       "MessageQueued", bytes(90),
                       {"correlation_id": uuid.uuid4().hex, "causation_id": str(uuid.uuid4())},
                       datetime.now(UTC))


async def best_round(raw: bytes, payload: bytes, decode: bool) -> float:
    """Best microseconds per message over ROUNDS rounds."""
    nc, best = NATS(), float("inf")
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(PER_ROUND):
            msg = nc._build_message(1, SUBJECT, REPLY, payload, await nc._process_headers(raw))
            if decode:
                bus.Envelope.from_msg(msg)
        best = min(best, (time.process_time() - start) / PER_ROUND * 1e6)
    return best


async def main() -> None:
    event = sample_event()
    headers = bus.headers_for("messaging", event)
    raw = header_block(headers)
    received = await best_round(raw, event.payload, decode=False)
    decoded = await best_round(raw, event.payload, decode=True)
    print(f"{len(headers)} headers, {len(raw)} header bytes: receive {received:.2f} µs, "
          f"receive + Envelope.from_msg {decoded:.2f} µs per event "
          f"(best of {ROUNDS} × {PER_ROUND:,}) | load {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
