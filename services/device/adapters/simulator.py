"""The simulator transport: WhatsApp's far side, in memory, deterministic enough to test.

It hands out pairing references (the QR text), links a device when a simulated phone
scans one, accepts sends at once and reports delivered and read receipts after the
configured delays. Like WhatsApp, each recipient's inbox keeps a message once per
transport message id, however often it is sent; a repeated send is accepted again and
its receipts are reported again (the dispatch lattice ignores them). Failures come at a
configured rate, drawn from an injectable random generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from services.device.app.transport import (
    Banned,
    Linked,
    Pairing,
    Receipt,
    ReceiptKind,
    Sent,
    TransportError,
    TransportEvent,
    TransportSink,
    Unlinked,
)
from services.device.domain.errors import InvalidPairingRefError

log = logging.getLogger(__name__)

SCHEME = "sbsim"


@dataclass(frozen=True)
class InboxMessage:
    transport_message_id: str
    from_number: str
    body: str
    device_id: str
    received_at: datetime


def pairing_ref_for(device_id: str, nonce: str) -> str:
    return f"{SCHEME}://pair?" + urlencode({"device": device_id, "ref": nonce})


def decode_pairing_ref(pairing_ref: str) -> tuple[str, str]:
    """(device_id, nonce) from a QR's text; InvalidPairingRefError if it is not ours."""
    parts = urlsplit(pairing_ref)
    query = parse_qs(parts.query)
    if parts.scheme != SCHEME or "device" not in query or "ref" not in query:
        raise InvalidPairingRefError("not a Switchboard simulator QR code")
    return query["device"][0], query["ref"][0]


def digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SimulatorTransport:
    name = "simulator"

    def __init__(self, delivery_delay: float = 0.2, read_delay: float = 0.8,
                 failure_rate: float = 0.0, qr_ttl: float = 60.0,
                 rng: random.Random | None = None,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.delivery_delay = delivery_delay
        self.read_delay = read_delay
        self.failure_rate = failure_rate
        self.qr_ttl = qr_ttl
        self.rng = rng or random.Random()
        self.clock = clock
        self._sink: TransportSink | None = None
        self._pending: dict[str, tuple[str, datetime]] = {}  # pairing_ref -> device, expiry
        self._sessions: dict[str, str] = {}  # device_id -> phone number
        self._inboxes: dict[str, list[InboxMessage]] = {}
        self._seen: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, sink: TransportSink) -> None:
        self._sink = sink

    # Linking

    async def start_pairing(self, device_id: str) -> Pairing:
        ref = pairing_ref_for(device_id, secrets.token_urlsafe(12))
        expires_at = self.clock() + timedelta(seconds=self.qr_ttl)
        self._pending[ref] = (device_id, expires_at)
        return Pairing(ref, expires_at)

    async def scan(self, pairing_ref: str, phone_number: str) -> str:
        """A phone scans the QR: links its session and reports it; returns the device id."""
        device_id, _ = decode_pairing_ref(pairing_ref)
        if pairing_ref not in self._pending:
            raise InvalidPairingRefError("unknown or already used QR code")
        self._sessions[device_id] = digits(phone_number)
        try:
            await self._emit(Linked(device_id, pairing_ref, digits(phone_number)))
        except BaseException:
            self._sessions.pop(device_id, None)
            raise
        self._pending.pop(pairing_ref, None)
        return device_id

    async def resume(self, device_id: str, phone_number: str) -> bool:
        self._sessions[device_id] = digits(phone_number)
        return True

    async def drop(self, device_id: str, reason: str = "connection lost") -> None:
        """The far side closes the session (network loss, logout on the phone)."""
        self._sessions.pop(device_id, None)
        await self._emit(Unlinked(device_id, reason))

    async def ban(self, device_id: str, reason: str = "banned by WhatsApp") -> None:
        self._sessions.pop(device_id, None)
        await self._emit(Banned(device_id, reason))

    def is_linked(self, device_id: str) -> bool:
        return device_id in self._sessions

    # Messages

    async def send(self, device_id: str, to: str, body: str,
                   transport_message_id: str) -> Sent:
        sender = self._sessions.get(device_id)
        if sender is None:
            raise TransportError(f"device {device_id} is not connected")
        if self.failure_rate and self.rng.random() < self.failure_rate:
            raise TransportError("simulated delivery failure")
        recipient, now = digits(to), self.clock()
        seen = self._seen.setdefault(recipient, set())
        if transport_message_id not in seen:
            seen.add(transport_message_id)
            self._inboxes.setdefault(recipient, []).append(
                InboxMessage(transport_message_id, sender, body, device_id, now))
        self._spawn(self._receipts(device_id, transport_message_id))
        return Sent(transport_message_id, now)

    def inbox(self, phone_number: str) -> list[InboxMessage]:
        return list(self._inboxes.get(digits(phone_number), ()))

    async def _receipts(self, device_id: str, transport_message_id: str) -> None:
        await asyncio.sleep(self.delivery_delay)
        await self._emit(Receipt(device_id, transport_message_id, ReceiptKind.DELIVERED,
                                 self.clock()))
        await asyncio.sleep(self.read_delay)
        await self._emit(Receipt(device_id, transport_message_id, ReceiptKind.READ,
                                 self.clock()))

    # Plumbing

    async def _emit(self, event: TransportEvent) -> None:
        if self._sink is not None:
            await self._sink(event)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator: receipt not recorded", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until every scheduled receipt has been reported."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
