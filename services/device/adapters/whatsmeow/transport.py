"""The whatsmeow transport: real WhatsApp Web multi-device through neonize (optional
extra `pip install 'switchboard-gateway[whatsmeow]'`).

One neonize async client (`NewAClient`) per device, keyed by the device id. Its
whatsmeow session store is `<var_dir>/whatsmeow/<device_id>.db` (SQLite), or, with
`SWITCHBOARD_WHATSMEOW_DATABASE_URL=postgres://…`, one PostgreSQL database shared by
every device, each picked out by the WhatsApp JID remembered in the send ledger.

Linking: a QR (whatsmeow rotates it: 60 s, then 20 s per code; `start_pairing` shows the
one on screen) or a pairing code (`request_pairing_code`, neonize's `PairPhone`). A
successful pairing is reported as `Linked` with an empty pairing ref: the transport
vouches for it, since the phone may have scanned a code whatsmeow rotated in itself.

Sending: neonize cannot send under our id, so the send ledger maps each transport
message id to WhatsApp's id: a resend after a crash is answered from it, a send cut off
mid-way is never repeated, and receipts find our id again. A media send uploads the file
first, then sends the message naming the upload (media.py). Events: events.py; messages
from others, with their media downloaded and the sender's number and LID: inbound.py.

Lifecycles: at most one client per device id lives at a time — the one before it is
stopped and detached from neonize's finalizer before the next is made (session.py).
A connect that cannot reach WhatsApp is a passing failure: `resume` answers False and the
app's reconnect loop tries again with its backoff; a live session whose connection call
dies is reported Unlinked (not logged out), so the same loop brings it back. Only
whatsmeow's own verdicts (logged out, banned, stream replaced, client outdated) end a
device. `resume` first checks that the session store still holds the device's session:
when it does not (a lost or reset store), the device needs a new link and is reported
logged out, instead of handing whatsmeow a session that is not there. neonize's calls
run on a bounded executor of their own (threads.py), taking turns at the maps of clients
its Go library keeps without a lock (go_maps.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from neonize.aioze.client import NewAClient
from neonize.exc import IsOnWhatsAppError, LogoutError, PairPhoneError, SendMessageError
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
from neonize.utils.jid import build_jid

from kernel.clock import Clock, utcnow
from kernel.errors import UnavailableError
from kernel.media import MediaStore
from services.device.adapters.send_ledger import SendLedger, send_once
from services.device.adapters.tasks import TaskSet
from services.device.adapters.whatsmeow.events import (
    Arrived,
    Down,
    Ended,
    EndKind,
    Paired,
    Receipts,
    Signal,
    Up,
    send_failure,
)
from services.device.adapters.whatsmeow.inbound import is_inbound, read_inbound
from services.device.adapters.whatsmeow.media import uploaded_message
from services.device.adapters.whatsmeow.session import (
    NeonizeClient,
    Session,
    SessionStores,
    State,
    Timing,
)
from services.device.adapters.whatsmeow.threads import NeonizeThreads, SessionsFullError
from services.device.app.transport import (
    Banned,
    Linked,
    Pairing,
    Receipt,
    Reconnected,
    Sent,
    SessionDownError,
    SessionFailed,
    TransientTransportError,
    TransportError,
    TransportEvent,
    TransportSink,
    Trouble,
    Unlinked,
    digits,
    stored_media,
)
from services.device.domain.commands import MediaFile
from services.device.domain.errors import AlreadyConnectedError
from services.device.settings import DeviceSettings

log = logging.getLogger(__name__)

ClientMaker = Callable[..., NeonizeClient]


class WhatsmeowUnavailableError(UnavailableError):
    """WhatsApp could not be reached to link or pair a device right now."""


class WhatsmeowTransport:
    name = "whatsmeow"

    # whatsmeow gives up on a send after 75 s; the dispatcher waits that long for an
    # answer before it takes the outcome for unknown (never earlier: the send goes on).
    send_timeout = 80.0

    def __init__(self, sessions_dir: Path, ledger: SendLedger, *, database_url: str = "",
                 make_client: ClientMaker = NewAClient, timing: Timing = Timing(),
                 clock: Clock = utcnow,
                 threads: NeonizeThreads | None = None,
                 media: MediaStore | None = None) -> None:
        self.ledger = ledger
        self.media = media  # where media sends' files are read (whatsmeow_from passes it)
        self.stores = SessionStores(sessions_dir, ledger, database_url)
        self.make_client = make_client
        self.timing = timing
        self.clock = clock
        self.threads = threads or NeonizeThreads()
        self._sink: TransportSink | None = None
        self._sessions: dict[str, Session] = {}
        self._owners: dict[str, Session] = {}  # the last client made for each device
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks = TaskSet(log, "whatsmeow: event not recorded")

    def attach(self, sink: TransportSink) -> None:
        self._sink = sink

    def session(self, device_id: str) -> Session | None:
        return self._sessions.get(device_id)

    # Linking

    async def start_pairing(self, device_id: str) -> Pairing:
        async with self._lock(device_id):
            current = self._sessions.get(device_id)
            qr = current.live_qr() if current is not None else None
            if qr is not None:
                return Pairing(qr.code, qr.expires_at)
            session = await self._open(device_id, fresh=True)
            state = await session.wait_for({State.PAIRING, State.ONLINE},
                                           self.timing.connect_wait)
            return await self._pairing_for(session, state)

    async def request_pairing_code(self, device_id: str, phone_number: str) -> Pairing:
        """Link by a pairing code typed on the phone instead of a QR (whatsmeow wants the
        connection, and so its first QR, before it hands out a code): `ABCD-EFGH`."""
        await self.start_pairing(device_id)
        session = self._sessions[device_id]
        if session.state is not State.PAIRING:
            raise AlreadyConnectedError(f"device {device_id} is already linked",
                                        device_id=device_id)
        try:
            code = await session.client.PairPhone(digits(phone_number), True)
        except PairPhoneError as exc:
            raise WhatsmeowUnavailableError(f"WhatsApp refused a pairing code: {exc}") from exc
        expires = self.clock() + timedelta(seconds=self.timing.pair_code_ttl)
        if session.window_ends_at is not None:  # the code dies with the QR channel
            expires = min(expires, session.window_ends_at)
        return Pairing(code, expires)

    async def _pairing_for(self, session: Session, state: State) -> Pairing:
        if state is State.PAIRING and session.qr is not None:
            return Pairing(session.qr.code, session.qr.expires_at)
        if state is State.ONLINE:  # the session store already held a linked device
            linked = Linked(session.device_id, "", await self._phone_of(session))
            self._tasks.spawn(self._emit_later(linked))
            expires = self.clock() + timedelta(seconds=self.timing.qr.first)
            return Pairing(f"whatsmeow://linked/{session.device_id}", expires)
        reason = session.ended_reason or "no QR code from WhatsApp in time"
        await self._close(session)
        raise WhatsmeowUnavailableError(f"device {session.device_id}: {reason}")

    # Sessions

    async def resume(self, device_id: str, phone_number: str) -> bool:
        async with self._lock(device_id):
            current = self._sessions.get(device_id)
            if current is not None and current.state is State.ONLINE:
                return True
            if not await self._stored(device_id):
                return False
            session = await self._open(device_id, fresh=False)
            state = await session.wait_for({State.ONLINE, State.PAIRING},
                                           self.timing.connect_wait)
            if state is State.ONLINE:
                return True
            why = "no linked session" if state is State.PAIRING else \
                session.ended_reason or f"no connection within {self.timing.connect_wait:g} s"
            log.info("whatsmeow %s: not resumed (%s)", device_id, why)
            await self._emit(Trouble(device_id, f"WhatsApp: {why}"))
            await self._close(session)
            return False

    async def _stored(self, device_id: str) -> bool:
        """Whether the session store still holds the device's session; when it surely
        does not, the device is reported logged out: only a new link brings it back."""
        try:
            stored = await self.stores.has_session(device_id)
        except Exception as exc:
            log.warning("whatsmeow %s: session store not readable now: %s", device_id, exc)
            await self._emit(Trouble(device_id, f"whatsmeow session store not readable: {exc}"))
            return False
        if not stored:
            log.warning("whatsmeow %s: the session store has no session for it", device_id)
            await self.stores.discard(device_id)
            self._tasks.spawn(self._emit(Unlinked(
                device_id, "the whatsmeow session store has lost this device's session: "
                           "it needs a new link", logged_out=True)))
        return stored

    async def release(self, device_id: str) -> None:
        async with self._lock(device_id):
            session = self._sessions.get(device_id)
            if session is not None:
                await self._close(session)

    async def logout(self, device_id: str) -> None:
        async with self._lock(device_id):
            session = self._sessions.get(device_id)
            if session is not None and session.state is State.ONLINE:
                try:
                    await session.client.logout()
                except LogoutError:
                    log.warning("whatsmeow %s: logout refused", device_id, exc_info=True)
            if session is not None:
                await self._close(session)
            await self.stores.discard(device_id)

    async def _open(self, device_id: str, fresh: bool) -> Session:
        """A new client for the device, once the one before it is stopped and detached."""
        previous = self._owners.get(device_id)
        if previous is not None:
            await self._close(previous)
        try:
            finished = self.threads.claim()
        except SessionsFullError as exc:
            raise WhatsmeowUnavailableError(str(exc), device_id=device_id) from exc
        try:
            client = self.make_client(**await self.stores.client_args(device_id, fresh))
        except BaseException:
            finished()
            raise
        self.threads.bind(client)
        session = Session(device_id, client, self._on_signal, self.clock, self.timing.qr)
        self._sessions[device_id] = self._owners[device_id] = session
        try:
            await session.start(finished)
        except Exception as exc:
            await self._close(session)
            raise WhatsmeowUnavailableError(f"whatsmeow did not start: {exc}") from exc
        return session

    async def _close(self, session: Session) -> None:
        if self._sessions.get(session.device_id) is session:
            del self._sessions[session.device_id]
        await session.stop()
        if self._owners.get(session.device_id) is session:
            del self._owners[session.device_id]

    # Messages

    def _online(self, device_id: str) -> Session:
        """The device's session, if it is up here (else SessionDownError)."""
        session = self._sessions.get(device_id)
        if session is None or session.state is not State.ONLINE:
            raise SessionDownError(f"device {device_id}: its WhatsApp session is not up here")
        return session

    async def send(self, device_id: str, to: str, body: str,
                   transport_message_id: str) -> Sent:
        session = self._online(device_id)
        return await send_once(self.ledger, self.name, device_id, transport_message_id,
                               lambda: self._send_now(session, to, Message(conversation=body)))

    async def send_media(self, device_id: str, to: str, media: MediaFile, caption: str,
                         transport_message_id: str) -> Sent:
        """The stored file uploaded, then the media message naming it (media.py)."""
        session = self._online(device_id)
        content = await stored_media(self.media, media)

        async def now() -> tuple[str, datetime]:
            message = await uploaded_message(session.client, media, content, caption)
            return await self._send_now(session, to, message)

        return await send_once(self.ledger, self.name, device_id, transport_message_id, now)

    async def _send_now(self, session: Session, to: str,
                        message: Message) -> tuple[str, datetime]:
        """WhatsApp's id of the sent message, and its time (WhatsApp's, else ours)."""
        try:
            response = await session.client.send_message(build_jid(digits(to)), message)
        except SendMessageError as exc:
            raise send_failure(str(exc)) from exc
        at = datetime.fromtimestamp(response.Timestamp, UTC) if response.Timestamp \
            else self.clock()
        return response.ID, at

    async def send_template(self, device_id: str, to: str, template: Mapping[str, object],
                            transport_message_id: str) -> Sent:
        raise TransportError("WhatsApp Web (whatsmeow) has no Meta templates (the cloud "
                             "transport sends them)")

    async def on_whatsapp(self, device_id: str,
                          numbers: Sequence[str]) -> dict[str, bool | None]:
        """whatsmeow's IsOnWhatsApp (numbers asked as `+<digits>`); unknown when the
        session is not up here or WhatsApp does not answer."""
        session = self._online(device_id)
        try:
            found = await session.client.is_on_whatsapp(*(f"+{n}" for n in numbers))
        except IsOnWhatsAppError as exc:
            raise TransientTransportError(f"WhatsApp did not answer: {exc}") from exc
        answers = {digits(r.Query): bool(r.IsIn) for r in found}
        return {n: answers.get(n) for n in numbers}

    # What the sessions report

    async def _on_signal(self, session: Session, signal: Signal, before: State) -> None:
        device_id = session.device_id
        if isinstance(signal, Receipts):
            await self._receipts(device_id, signal)
        elif isinstance(signal, Arrived):
            await self._arrived(session, signal.event)
        elif isinstance(signal, Paired):
            await self.stores.remember(device_id, signal.jid)
            await self._emit(Linked(device_id, "", signal.jid.User))
        elif isinstance(signal, Up) and before is State.OFFLINE:
            await self._emit(Reconnected(device_id))
        elif isinstance(signal, Up) and before is State.PAIRING:  # linked without a PairStatus
            await self._emit(Linked(device_id, "", await self._phone_of(session)))
        elif isinstance(signal, Down):
            await self._emit(Unlinked(device_id, signal.reason, logged_out=False))
        elif isinstance(signal, Ended):
            await self._ended(session, signal, before)

    async def _ended(self, session: Session, signal: Ended, before: State) -> None:
        device_id = session.device_id
        if self._sessions.get(device_id) is session:
            del self._sessions[device_id]
        if signal.kind is EndKind.LOGGED_OUT:
            await self.stores.discard(device_id)
            await self._emit(Unlinked(device_id, signal.reason, logged_out=True))
        elif signal.kind is EndKind.BANNED:
            await self._emit(Banned(device_id, signal.reason))
        elif signal.kind is EndKind.UNREACHABLE:
            if before in (State.LINKED, State.ONLINE, State.OFFLINE):  # else: resume says so
                await self._emit(Unlinked(device_id, signal.reason, logged_out=False))
        elif signal.kind is EndKind.FAILED:
            await self._emit(SessionFailed(device_id, signal.reason))

    async def _receipts(self, device_id: str, signal: Receipts) -> None:
        known = await self.ledger.transport_ids(signal.message_ids)
        for remote_id in signal.message_ids:
            if remote_id in known:
                await self._emit(Receipt(device_id, known[remote_id], signal.kind, signal.at))

    async def _arrived(self, session: Session, event: Any) -> None:
        if is_inbound(event):
            client = session.client
            await self._emit(await read_inbound(session.device_id, event, client.download_any,
                                                client.get_pn_from_lid, client.get_lid_from_pn))

    async def _phone_of(self, session: Session) -> str:
        me = await session.client.get_me()
        return str(me.JID.User)

    # Plumbing

    def _lock(self, device_id: str) -> asyncio.Lock:
        return self._locks.setdefault(device_id, asyncio.Lock())

    async def _emit(self, event: TransportEvent) -> None:
        if self._sink is not None:
            await self._sink(event)

    async def _emit_later(self, event: TransportEvent) -> None:
        await asyncio.sleep(self.timing.link_delay)
        await self._emit(event)

    async def idle(self) -> None:
        await self._tasks.idle()

    async def close(self) -> None:
        for session in list(self._owners.values()):
            await self._close(session)
        await self._tasks.cancel()
        self.threads.shutdown()
        await self.ledger.close()


def whatsmeow_from(settings: DeviceSettings, media: MediaStore) -> WhatsmeowTransport:
    return WhatsmeowTransport(
        settings.var_dir / "whatsmeow", SendLedger.for_settings(settings),
        database_url=settings.whatsmeow_database_url,
        timing=Timing(connect_wait=settings.whatsmeow_connect_wait_seconds),
        threads=NeonizeThreads(max_sessions=settings.whatsmeow_max_sessions),
        media=media)
