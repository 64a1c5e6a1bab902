"""One device's neonize client: its QR codes, its link and its connection, as a state.

    STARTING --QR--> PAIRING --Paired--> LINKED --Up--> ONLINE <--Up/Down--> OFFLINE
    STARTING --Up--> ONLINE (the session store already held a linked device)
    any --Ended (logout, ban, failure, unreachable, QR codes ran out) or stop--> ENDED

neonize calls the handlers from whatsmeow's Go threads through the event loop, one
coroutine per event; a lock keeps them in arrival order. Events of a client that this
session has replaced or stopped are ignored.

A connect that fails (neonize's `Neonize()` call returns an error: whatsmeow could not
dial WhatsApp) ends the session as UNREACHABLE, a passing failure the app retries. A
pairing nobody completes ends as EXPIRED when whatsmeow's QR codes run out (60 s, then 5
more of 20 s), so that its client stops and its thread comes back.

Stopping is done once, however often asked, and the client is then detached from
neonize's finalizer: that finalizer stops the Go client *by device id* when the Python
object is collected, which would kill the next session of the same device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from neonize.proto.Neonize_pb2 import JID

from kernel.clock import Clock
from kernel.waits import waited
from services.device.adapters.send_ledger import SendLedger
from services.device.adapters.tasks import TaskSet
from services.device.adapters.whatsmeow.events import (
    SUBSCRIBED,
    Arrived,
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

    async def is_on_whatsapp(self, *numbers: str) -> Any: ...

    async def download_any(self, message: Any, path: str | None = None) -> Any: ...

    async def upload(self, binary: bytes, media_type: Any = None) -> Any: ...

    async def get_pn_from_lid(self, jid: JID) -> JID: ...

    async def get_lid_from_pn(self, jid: JID) -> JID: ...


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
    """whatsmeow's QR channel: the first code lives 60 s, each of `count` later ones 20 s;
    then the channel closes (and a pairing code with it)."""

    first: float = 60.0
    next: float = 20.0
    count: int = 5

    @property
    def window(self) -> float:
        return self.first + self.count * self.next


@dataclass(frozen=True)
class Timing:
    connect_wait: float = 30.0  # for the first QR, or the connection of a linked session
    pair_code_ttl: float = 180.0  # a pairing code's life, cut to what is left of the QR window
    link_delay: float = 0.5  # a link found at pairing time waits for the QR to be recorded
    qr: QrTimes = QrTimes()


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

    async def has_session(self, device_id: str) -> bool:
        """Whether whatsmeow's store holds the device's linked session (a row of its
        `whatsmeow_device` table): in the device's own file, or, in the shared PostgreSQL
        store, under the JID the device paired as. Raises when the store cannot be read."""
        if not self.database_url:
            path = self.sessions_dir / f"{device_id}.db"
            return path.is_file() and await asyncio.to_thread(_sqlite_has_device, path)
        jid = await self.ledger.jid_of(device_id)
        return jid is not None and await _postgres_has_device(self.database_url, jid)

    async def remember(self, device_id: str, jid: JID) -> None:
        await self.ledger.remember_jid(device_id, jid_text(jid))

    async def discard(self, device_id: str) -> None:
        """The link is gone: nothing of it may be resumed."""
        await self.ledger.forget_jid(device_id)
        if not self.database_url:
            for suffix in ("", "-wal", "-shm", "-journal"):
                (self.sessions_dir / f"{device_id}.db{suffix}").unlink(missing_ok=True)


def _tolerant(execute: Callable[..., Any], device_id: str) -> Callable[..., Any]:
    """neonize's `Event.execute`, called from Go for every event: an event it cannot map
    (a code or a value this neonize does not know) is logged and skipped, so that one odd
    event never ends the stream of those after it."""
    def run(uuid: int, binary: int, size: int, code: int) -> Any:
        try:
            return execute(uuid, binary, size, code)
        except Exception as exc:
            log.warning("whatsmeow %s: event %d not readable, skipped: %r", device_id, code,
                        exc)
            return None

    return run


def _sqlite_has_device(path: Path) -> bool:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            return db.execute("SELECT 1 FROM whatsmeow_device LIMIT 1").fetchone() is not None
        except sqlite3.OperationalError:  # no table: whatsmeow never stored a device
            return False


async def _postgres_has_device(url: str, jid: str) -> bool:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval("SELECT 1 FROM whatsmeow_device WHERE jid = $1",
                                   jid) is not None
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()


class Session:
    def __init__(self, device_id: str, client: NeonizeClient, report: Report,
                 clock: Clock, qr_times: QrTimes = QrTimes()) -> None:
        self.device_id = device_id
        self.client = client
        self.report = report
        self.clock = clock
        self.qr_times = qr_times
        self.state = State.STARTING
        self.qr: QrCode | None = None
        self.window_ends_at: datetime | None = None  # when the QR codes run out
        self.ended_reason = ""
        self._qr_count = 0
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._connect_task: asyncio.Future[Any] | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._expiry: asyncio.Task[None] | None = None
        self._tasks = TaskSet(log, "whatsmeow: a session's stop or expiry failed")

    def subscribe(self) -> None:
        """Register the QR callback and the event handlers with the neonize client, and
        make its event bridge skip what it cannot read instead of raising into Go."""
        self.client.qr(self._on_qr)
        for event_type in SUBSCRIBED:
            self.client.event(event_type)(self._on_event)
        self.client.event.execute = _tolerant(self.client.event.execute, self.device_id)

    async def start(self, finished: Callable[[], None] = lambda: None) -> None:
        """Subscribe, then connect: neonize only forwards the events subscribed before.
        `finished` is called once the client's connection call has returned."""
        self.subscribe()
        try:
            task = await self.client.connect()
        except BaseException:
            finished()
            raise
        if not isinstance(task, asyncio.Future):
            finished()
            return
        self._connect_task = task
        task.add_done_callback(lambda t: finished())
        task.add_done_callback(self._connect_done)

    # What whatsmeow says

    async def _on_qr(self, client: Any, data: bytes) -> None:
        if client is not self.client or self.state not in (State.STARTING, State.PAIRING):
            return
        first = self._qr_count == 0
        ttl = self.qr_times.first if first else self.qr_times.next
        self._qr_count += 1
        self.qr = QrCode(data.decode(), self.clock() + timedelta(seconds=ttl))
        if first:
            self.window_ends_at = self.clock() + timedelta(seconds=self.qr_times.window)
            self._expiry = asyncio.get_running_loop().create_task(
                self._expire_pairing(self.qr_times.window))
        self._move(State.PAIRING)

    async def _expire_pairing(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._tasks.spawn(self._expired())  # not cancelled along with this timer by the stop

    async def _expired(self) -> None:
        async with self._lock:
            if self.state is State.PAIRING:
                await self.apply(Ended(EndKind.EXPIRED, "the QR codes ran out before a "
                                                        "phone linked the device"))

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
            self._stop_once()
        await self.report(self, signal, before)

    def _connect_done(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            return
        error = task.exception()  # retrieved even when nobody waits for it any more
        if error is not None and self.state is not State.ENDED:  # could not dial: may pass
            reason = f"WhatsApp unreachable: {error}"
            log.warning("whatsmeow %s: %s", self.device_id, reason)
            self._tasks.spawn(self._on_stopped(reason))

    async def _on_stopped(self, reason: str) -> None:
        async with self._lock:
            if self.state is not State.ENDED:
                await self.apply(Ended(EndKind.UNREACHABLE, reason))

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
            await waited(self._changed, seconds=left)
        return self.state

    def live_qr(self, margin: float = 2.0) -> QrCode | None:
        """The QR on show, if it still has `margin` seconds to live."""
        if self.state is not State.PAIRING or self.qr is None:
            return None
        if self.qr.expires_at - timedelta(seconds=margin) <= self.clock():
            return None
        return self.qr

    async def stop(self) -> None:
        """Close the connection, keep the link (the session store keeps it). Returns once
        the client is stopped and detached: a new client of the device may start."""
        if self.state is not State.ENDED:
            self.ended_reason = self.ended_reason or "stopped"
            self._move(State.ENDED)
        await asyncio.shield(self._stop_once())

    def _stop_once(self) -> asyncio.Task[None]:
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop_client())
        return self._stopping

    async def _stop_client(self) -> None:
        if self._expiry is not None and self._expiry is not asyncio.current_task():
            self._expiry.cancel()
        try:
            await self.client.stop()
        except Exception:
            log.warning("whatsmeow %s: stop failed", self.device_id, exc_info=True)
        task = self._connect_task
        if task is not None and not task.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), 5.0)
        finalizer = getattr(self.client, "_stop_finalizer", None)
        if finalizer is not None:  # it would stop the device's *next* client in Go
            finalizer.detach()

    def _move(self, state: State) -> None:
        self.state = state
        self._changed.set()


def _next_state(signal: Signal, state: State) -> State | None:
    """Where a signal takes the session; None when it means nothing in this state."""
    if isinstance(signal, Receipts | Arrived):
        return state
    if isinstance(signal, Paired):
        return State.LINKED if state in (State.STARTING, State.PAIRING) else None
    if isinstance(signal, Up):
        return State.ONLINE
    if isinstance(signal, Down):
        return State.OFFLINE if state is State.ONLINE else None
    return State.ENDED
