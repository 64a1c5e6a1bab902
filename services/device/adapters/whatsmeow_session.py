"""One device's neonize client: its QR codes, its link and its connection, as a state.

    STARTING --QR--> PAIRING --Paired--> LINKED --Up--> ONLINE <--Up/Down--> OFFLINE
    STARTING --Up--> ONLINE (the session store already held a linked device)
    any --Ended (logout, ban, failure) or stop--> ENDED

neonize calls the handlers from whatsmeow's Go threads through the event loop, one
coroutine per event; a lock keeps them in arrival order. Events of a client that this
session has replaced or stopped are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from neonize.proto.Neonize_pb2 import JID

from services.device.adapters.whatsmeow_events import (
    SUBSCRIBED,
    Down,
    Ended,
    EndKind,
    Paired,
    Receipts,
    Signal,
    Up,
    jid_from_text,
    jid_text,
    signal_for,
)
from services.device.adapters.whatsmeow_ledger import SendLedger

log = logging.getLogger(__name__)


class NeonizeClient(Protocol):
    """The part of neonize's `NewAClient` the transport uses (same names and shapes)."""

    qr: Any
    event: Any

    async def connect(self, proxy_settings: Any = None) -> Any: ...

    async def stop(self) -> Any: ...

    async def logout(self) -> Any: ...

    async def send_message(self, to: Any, message: Any, link_preview: bool = False,
                           ghost_mentions: str | None = None, mentions_are_lids: bool = False,
                           add_msg_secret: bool = False) -> Any: ...

    async def PairPhone(self, phone: str, show_push_notification: bool,  # noqa: N802
                        client_name: Any = ..., client_type: Any = None) -> str: ...

    async def get_me(self) -> Any: ...


class State(StrEnum):
    STARTING = "starting"
    PAIRING = "pairing"
    LINKED = "linked"
    ONLINE = "online"
    OFFLINE = "offline"
    ENDED = "ended"


@dataclass(frozen=True)
class QrCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class QrTimes:
    """whatsmeow's QR channel: the first code lives 60 s, each later one 20 s."""

    first: float = 60.0
    next: float = 20.0


@dataclass(frozen=True)
class Timing:
    connect_wait: float = 30.0  # for the first QR, or the connection of a linked session
    pair_code_ttl: float = 180.0  # how long a pairing code is shown as valid
    link_delay: float = 0.5  # a link found at pairing time waits for the QR to be recorded
    qr: QrTimes = QrTimes()


def digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


Report = Callable[["Session", Signal, State], Awaitable[None]]


class SessionStores:
    """Where each device's whatsmeow session store lives: one SQLite file per device
    under `sessions_dir`, or one PostgreSQL database (`database_url`) for every device,
    each picked out by the JID remembered in the send ledger when it paired."""

    def __init__(self, sessions_dir: Path, ledger: SendLedger, database_url: str = "") -> None:
        self.sessions_dir = sessions_dir
        self.ledger = ledger
        self.database_url = database_url

    async def client_args(self, device_id: str, fresh: bool) -> dict[str, Any]:
        """NewAClient's arguments: a fresh device to pair, or the linked one to resume."""
        if not self.database_url:
            self.sessions_dir.mkdir(parents=True, exist_ok=True)
            return {"name": str(self.sessions_dir / f"{device_id}.db"), "jid": None,
                    "uuid": device_id, "new_device": False}
        jid = None if fresh else await self.ledger.jid_of(device_id)
        return {"name": self.database_url, "jid": jid_from_text(jid) if jid else None,
                "uuid": device_id, "new_device": fresh}

    async def remember(self, device_id: str, jid: JID) -> None:
        await self.ledger.remember_jid(device_id, jid_text(jid))

    async def discard(self, device_id: str) -> None:
        """The link is gone: nothing of it may be resumed."""
        await self.ledger.forget_jid(device_id)
        if not self.database_url:
            for suffix in ("", "-wal", "-shm", "-journal"):
                (self.sessions_dir / f"{device_id}.db{suffix}").unlink(missing_ok=True)


class Session:
    def __init__(self, device_id: str, client: NeonizeClient, report: Report,
                 clock: Callable[[], datetime], qr_times: QrTimes = QrTimes()) -> None:
        self.device_id = device_id
        self.client = client
        self.report = report
        self.clock = clock
        self.qr_times = qr_times
        self.state = State.STARTING
        self.qr: QrCode | None = None
        self.ended_reason = ""
        self._qr_count = 0
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._connect_task: asyncio.Future[Any] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def subscribe(self) -> None:
        """Register the QR callback and the event handlers with the neonize client."""
        self.client.qr(self._on_qr)
        for event_type in SUBSCRIBED:
            self.client.event(event_type)(self._on_event)

    async def start(self) -> None:
        """Subscribe, then connect: neonize only forwards the events subscribed before."""
        self.subscribe()
        task = await self.client.connect()
        if isinstance(task, asyncio.Future):
            self._connect_task = task
            task.add_done_callback(self._connect_done)

    # What whatsmeow says

    async def _on_qr(self, client: Any, data: bytes) -> None:
        if client is not self.client or self.state not in (State.STARTING, State.PAIRING):
            return
        ttl = self.qr_times.first if self._qr_count == 0 else self.qr_times.next
        self._qr_count += 1
        self.qr = QrCode(data.decode(), self.clock() + timedelta(seconds=ttl))
        self._move(State.PAIRING)

    async def _on_event(self, client: Any, event: Any) -> None:
        if client is not self.client:
            return
        signal = signal_for(event)
        if signal is None:
            return
        async with self._lock:
            if self.state is State.ENDED:
                return
            try:
                await self.apply(signal)
            except Exception:
                log.exception("whatsmeow %s: %s not recorded", self.device_id,
                              type(signal).__name__)

    async def apply(self, signal: Signal) -> None:
        before = self.state
        after = _next_state(signal, before)
        if after is None:
            return
        self._move(after)
        if isinstance(signal, Ended):
            self.ended_reason = signal.reason
            self._spawn(self._stop_client())
        await self.report(self, signal, before)

    def _connect_done(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled() or self.state is State.ENDED:
            return
        error = task.exception()
        if error is not None:
            reason = f"whatsmeow stopped: {error}"
            log.warning("whatsmeow %s: %s", self.device_id, reason)
            self._spawn(self._on_stopped(reason))

    async def _on_stopped(self, reason: str) -> None:
        async with self._lock:
            if self.state is not State.ENDED:
                await self.apply(Ended(EndKind.FAILED, reason))

    # What the transport asks

    async def wait_for(self, states: Collection[State], seconds: float) -> State:
        """Wait until the session is in one of `states` (or ended), at most `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.state not in states and self.state is not State.ENDED:
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return self.state

    def live_qr(self, margin: float = 2.0) -> QrCode | None:
        """The QR on show, if it still has `margin` seconds to live."""
        if self.state is not State.PAIRING or self.qr is None:
            return None
        if self.qr.expires_at - timedelta(seconds=margin) <= self.clock():
            return None
        return self.qr

    async def stop(self) -> None:
        """Close the connection, keep the link (the session store keeps it)."""
        if self.state is not State.ENDED:
            self.ended_reason = self.ended_reason or "stopped"
            self._move(State.ENDED)
        await self._stop_client()

    async def _stop_client(self) -> None:
        try:
            await self.client.stop()
        except Exception:
            log.warning("whatsmeow %s: stop failed", self.device_id, exc_info=True)
        task = self._connect_task
        if task is not None and not task.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), 5.0)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _move(self, state: State) -> None:
        self.state = state
        self._changed.set()


def _next_state(signal: Signal, state: State) -> State | None:
    """Where a signal takes the session; None when it means nothing in this state."""
    if isinstance(signal, Receipts):
        return state
    if isinstance(signal, Paired):
        return State.LINKED if state in (State.STARTING, State.PAIRING) else None
    if isinstance(signal, Up):
        return State.ONLINE
    if isinstance(signal, Down):
        return State.OFFLINE if state is State.ONLINE else None
    return State.ENDED
