"""A stand-in for neonize's async client (`NewAClient`) and, behind it, WhatsApp.

It follows neonize 0.5's real interface, so that a drift breaks the tests:
- the same constructor and method signatures as `NewAClient` (checked against it in
  test_whatsmeow_transport), `is_connected` a property as there;
- neonize's own `Event` class for `client.event(EvType)(handler)` and `client.qr(...)`;
- events delivered as the Go core delivers them: the event's protobuf, serialized,
  handed to `Event.execute(uuid, address, size, code)` from another thread (neonize
  decodes it with its own EVENT_TO_INT table and schedules the handler on the loop),
  only for the event types subscribed before `connect()`; QR codes through the `qr`
  callback, scheduled the same way;
- neonize's own exceptions (SendMessageError, PairPhoneError, LogoutError, NeonizeError)
  with whatsmeow's error texts;
- the Go core behind it as in neonize: the client's Go calls go through its
  `_NewAClient__client` wrapper (each call on a worker thread; `library` is the Go side,
  `FakeGo`); `Neonize()` holds its worker thread for as long as the session lives, and
  fails at once with whatsmeow's dial error when WhatsApp cannot be reached; Go clients
  are kept *by device id*, so `Stop(uuid)` stops whichever client has that id now, and
  a client whose Go side was stopped answers `client is nil`; and each client carries
  neonize's finalizer, which calls `Stop(uuid)` when the Python object is collected;
- connect failures as whatsmeow dispatches them: a logout, a ban or an outdated client
  arrive as their own events (LoggedOut, TemporaryBan, ClientOutdated), 500/503 as a
  disconnect that whatsmeow reconnects by itself, and only the rest as ConnectFailure.
Behind it, `FakeWhatsApp` keeps each session store's linked devices as whatsmeow's
store does (GetFirstDevice, GetDevice(jid), new_device) and writes them where whatsmeow
does (a `whatsmeow_device` row in the SQLite file or the PostgreSQL database), shows QR
codes for whatsmeow's window (the first, then `qr_count` more; a pairing code dies with
the window), links a device when a phone scans one or types a pairing code, and records
every send. Messages from others arrive as whatsmeow dispatches them (a `MessageEv`, its
`MessageSource` addressed by phone number or by LID with the other as `SenderAlt`); their
media is kept on WhatsApp's side by direct path (`download_any` answers it, checked
against `fileSHA256`, or whatsmeow's 404), and whatsmeow's LID map answers
`get_pn_from_lid` / `get_lid_from_pn` (an empty JID when it does not know).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import itertools
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import neonize.aioze.events as neonize_events
from neonize._binder import ProxySettings
from neonize.aioze.events import (
    EVENT_TO_INT,
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    Event,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.exc import (
    DownloadError,
    IsOnWhatsAppError,
    LogoutError,
    NeonizeError,
    PairPhoneError,
    SendMessageError,
    UploadError,
)
from neonize.proto.Neonize_pb2 import (
    JID,
    ConnectFailureReason,
    Device,
    IsOnWhatsAppResponse,
    MessageDebugTimings,
    MessageSource,
    Node,
    SendResponse,
    UploadResponse,
)
from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps
from neonize.utils.enum import ClientName, ClientType, MediaType
from neonize.utils.jid import build_jid

from services.device.adapters.whatsmeow.events import jid_text

DIAL_ERROR = ("failed to dial whatsapp web websocket: failed to WebSocket dial: failed to "
              "send handshake request: Get \"https://web.whatsapp.com/ws/chat\": dial tcp: "
              "lookup web.whatsapp.com: no such host")
LOGGED_OUT_REASONS = {ConnectFailureReason.LOGGED_OUT, ConnectFailureReason.MAIN_DEVICE_GONE,
                      ConnectFailureReason.UNKNOWN_LOGOUT}
MEDIA_FIELDS = ("imageMessage", "documentMessage", "audioMessage", "videoMessage",
                "stickerMessage")  # what whatsmeow's DownloadAny downloads
PAIRING_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # whatsmeow's linking code base32
RECONNECTED_REASONS = {ConnectFailureReason.INTERNAL_SERVER_ERROR,
                       ConnectFailureReason.SERVICE_UNAVAILABLE}


def empty_jid() -> JID:
    return JID(User="", RawAgent=0, Device=0, Integrator=0, Server="")


class FakeGo:
    """The Go side: clients by device id, each `Neonize()` call blocking until stopped."""

    def __init__(self, far: FakeWhatsApp) -> None:
        self.far = far
        self.clients: dict[bytes, FakeNewAClient] = {}
        self._stopped: dict[bytes, threading.Event] = {}
        self._errors: dict[bytes, bytes] = {}
        self.threads: set[str] = set()  # names of the threads running sessions now

    def Neonize(self, client: FakeNewAClient) -> bytes:  # noqa: N802 - neonize's name
        if self.far.unreachable:
            return DIAL_ERROR.encode()
        stopped = threading.Event()
        self.clients[client.uuid], self._stopped[client.uuid] = client, stopped
        assert client.loop is not None
        name = threading.current_thread().name
        self.threads.add(name)  # before the events flow: a QR shown means the thread is held
        asyncio.run_coroutine_threadsafe(client.begin(), client.loop)
        stopped.wait()
        self.threads.discard(name)
        return self._errors.pop(client.uuid, b"")

    def fail(self, uuid: bytes, error: str) -> None:
        """whatsmeow's connection call returns an error (its connection could not go on)."""
        self._errors[uuid] = error.encode()
        self.Stop(uuid)

    def Stop(self, uuid: bytes) -> None:  # noqa: N802
        client = self.clients.pop(uuid, None)
        if client is not None:
            client.stopped, client.online = True, False
            self._stopped.pop(uuid).set()
            for code, (owner, _) in list(self.far.pair_codes.items()):
                if owner is client:  # a stopped client's pairing codes die with it
                    self.far.pair_codes.pop(code, None)
            if client.window is not None and client.loop is not None:
                with contextlib.suppress(RuntimeError):  # the test's loop may be gone
                    client.loop.call_soon_threadsafe(client.window.cancel)

    def live(self, client: FakeNewAClient) -> bool:
        return self.clients.get(client.uuid) is client


class AsyncGo:
    """neonize's GoCode: each Go function as an awaitable on a worker thread."""

    def __init__(self, library: FakeGo) -> None:
        self.library = library

    def __getattr__(self, name: str) -> Any:
        function = getattr(self.library, name)
        return lambda *args: asyncio.to_thread(function, *args)


async def store_device(name: str, jid: JID | None, present: bool) -> None:
    """Write (or delete) a device row where whatsmeow keeps it."""
    text = jid_text(jid) if jid is not None else ""
    if name.startswith("postgres"):
        conn = await asyncpg.connect(name)
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS whatsmeow_device "
                               "(jid TEXT PRIMARY KEY)")
            if present:
                await conn.execute("INSERT INTO whatsmeow_device VALUES ($1) "
                                   "ON CONFLICT DO NOTHING", text)
            else:
                await conn.execute("DELETE FROM whatsmeow_device WHERE jid = $1", text)
        finally:
            await conn.close()
        return
    with contextlib.closing(sqlite3.connect(name)) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS whatsmeow_device (jid TEXT PRIMARY KEY)")
        if present:
            db.execute("INSERT OR IGNORE INTO whatsmeow_device VALUES (?)", (text,))
        else:
            db.execute("DELETE FROM whatsmeow_device WHERE jid = ?", (text,))


@dataclass(frozen=True)
class Outgoing:
    device_id: str
    to: JID
    text: str
    message_id: str
    message: Any = None  # the whole Message sent (a media message's upload is named in it)


@dataclass
class FakeWhatsApp:
    stores: dict[str, dict[str, JID]] = field(default_factory=dict)
    clients: list[FakeNewAClient] = field(default_factory=list)
    sent: list[Outgoing] = field(default_factory=list)
    send_calls: int = 0
    send_failures: list[Exception] = field(default_factory=list)
    unreachable: bool = False  # connect() fails at once: whatsmeow cannot dial WhatsApp
    silent: bool = False  # connect() dials, but WhatsApp never answers
    pair_codes: dict[str, tuple[FakeNewAClient, str]] = field(default_factory=dict)
    qr_first: float = 60.0  # whatsmeow's QR window: the first code, then `qr_count` more
    qr_next: float = 20.0
    qr_count: int = 5
    media: dict[str, bytes] = field(default_factory=dict)  # direct path -> file
    download_failures: int = 0  # the next downloads that fail (WhatsApp's CDN answers 500)
    upload_failures: int = 0  # the next uploads that fail
    uploads: list[Any] = field(default_factory=list)  # each upload's MediaType
    lids: dict[str, str] = field(default_factory=dict)  # whatsmeow's LID map: phone -> LID
    accounts: set[str] = field(default_factory=set)  # the numbers that have WhatsApp
    lookups: list[str] = field(default_factory=list)  # every IsOnWhatsApp query
    _device_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(11))

    def __post_init__(self) -> None:
        self.go = FakeGo(self)

    @property
    def NewAClient(self) -> type[FakeNewAClient]:  # noqa: N802 - neonize's name
        return type("NewAClient", (FakeNewAClient,), {"far": self})

    def client_for(self, device_id: str) -> FakeNewAClient:
        return [c for c in self.clients if c.uuid == device_id.encode()][-1]

    def stored_device(self, client: FakeNewAClient) -> JID | None:
        store = self.stores.setdefault(client.name, {})
        if client.jid is not None:
            return store.get(jid_text(client.jid))
        if client.new_device or not store:
            return None
        return next(iter(store.values()))

    # The phone's side

    async def scan(self, qr_code: str, phone: str) -> None:
        client = next(c for c in self.clients if c.qr_codes[-1:] == [qr_code] and not c.stopped)
        assert client.qr_open, "the QR code expired"
        await self._pair(client, phone)

    async def enter_code(self, code: str) -> None:
        client, phone = self.pair_codes.pop(code)
        assert client.qr_open and not client.stopped, "the pairing code expired"
        await self._pair(client, phone)

    async def _pair(self, client: FakeNewAClient, phone: str) -> None:
        jid = JID(User="".join(c for c in phone if c.isdigit()), Device=next(self._device_numbers),
                  Server="s.whatsapp.net", RawAgent=0, Integrator=0, IsEmpty=False)
        self.stores.setdefault(client.name, {})[jid_text(jid)] = jid
        await store_device(client.name, jid, present=True)
        client.linked = jid
        await client.deliver(PairStatusEv(ID=jid, Status=PairStatusEv.SUCCESS,
                                          BusinessName="", Platform="android"))
        await self.come_back(client)

    async def pairing_fails(self, client: FakeNewAClient, error: str) -> None:
        await client.deliver(PairStatusEv(ID=empty_jid(), Status=PairStatusEv.ERROR,
                                          BusinessName="", Platform="", Error=error))

    async def rotate_qr(self, client: FakeNewAClient) -> str:
        return await client.show_qr()

    async def drop(self, client: FakeNewAClient) -> None:
        client.online = False
        await client.deliver(DisconnectedEv(status=True))

    async def come_back(self, client: FakeNewAClient) -> None:
        client.online = True
        await client.deliver(ConnectedEv(status=True))

    async def keepalive_timeout(self, client: FakeNewAClient, failures: int = 2) -> None:
        await client.deliver(KeepAliveTimeoutEv(ErrorCount=failures,
                                                LastSuccess=int(time.time()) - 30))

    async def keepalive_restored(self, client: FakeNewAClient) -> None:
        await client.deliver(KeepAliveRestoredEv())

    async def log_out(self, client: FakeNewAClient, on_connect: bool = False,
                      reason: int = ConnectFailureReason.LOGGED_OUT) -> None:
        await self.forget(client)
        await client.deliver(LoggedOutEv(OnConnect=on_connect, Reason=reason))

    async def temporary_ban(self, client: FakeNewAClient, code: int, expire: int) -> None:
        client.online = False
        await client.deliver(TemporaryBanEv(Code=code, Expire=expire))

    async def connect_failure(self, client: FakeNewAClient, reason: int, message: str) -> None:
        """WhatsApp answers a (re)connect with a <failure>: whatsmeow's handling of it."""
        client.online = False
        if reason in LOGGED_OUT_REASONS:
            await self.log_out(client, on_connect=True, reason=reason)
        elif reason == ConnectFailureReason.TEMP_BANNED:
            await client.deliver(TemporaryBanEv(Code=TemporaryBanEv.SEND_TO_TOO_MANY_PEOPLE,
                                                Expire=3600))
        elif reason == ConnectFailureReason.CLIENT_OUTDATED:
            await client.deliver(ClientOutdatedEv())
        elif reason in RECONNECTED_REASONS:  # whatsmeow reconnects by itself
            await client.deliver(DisconnectedEv(status=True))
        else:
            await client.deliver(ConnectFailureEv(Reason=reason, Message=message,
                                                  Raw=Node(Tag="failure")))

    async def stream_replaced(self, client: FakeNewAClient) -> None:
        client.online = False
        await client.deliver(StreamReplacedEv())

    async def client_outdated(self, client: FakeNewAClient) -> None:
        client.online = False
        await client.deliver(ClientOutdatedEv())

    async def receipt(self, client: FakeNewAClient, message_ids: list[str], kind: int,
                      at: int = 1_700_000_000) -> None:
        """The recipient's phone acknowledges messages this client sent to it."""
        recipient = next(m.to for m in self.sent if m.message_id in message_ids) \
            if any(m.message_id in message_ids for m in self.sent) else build_jid("0")
        empty = empty_jid()
        source = MessageSource(Chat=recipient, Sender=recipient, IsFromMe=False, IsGroup=False,
                               SenderAlt=empty, RecipientAlt=empty, BroadcastListOwner=empty)
        await client.deliver(ReceiptEv(MessageSource=source, MessageIDs=message_ids,
                                       Timestamp=at, Type=kind))

    async def message_from(self, client: FakeNewAClient, event: MessageEv) -> None:
        """Someone's message reaches the device (neonize_messages.py builds the event)."""
        await client.deliver(event)

    async def forget(self, client: FakeNewAClient) -> None:
        """WhatsApp drops the link (logout, device removed): whatsmeow deletes its store."""
        client.online = False
        if client.linked is not None:
            self.stores.get(client.name, {}).pop(jid_text(client.linked), None)
            await store_device(client.name, client.linked, present=False)

    async def lose_store(self, name: str) -> None:
        """The session store is reset (a restored backup, a dropped database)."""
        for jid in list(self.stores.pop(name, {}).values()):
            await store_device(name, jid, present=False)


class FakeNewAClient:
    far: FakeWhatsApp

    def __init__(self, name: str, jid: JID | None = None, props: DeviceProps | None = None,
                 uuid: str | None = None, new_device: bool = False):
        self.name, self.jid, self.props, self.new_device = name, jid, props, new_device
        self.uuid = (jid.User if jid else (uuid or name)).encode()
        self.event = Event(self)  # neonize's own subscription and dispatch
        self.paircode = self.event.paircode
        self.qr = self.event.qr
        self.connected = False
        self.me = None
        self.connect_task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.linked: JID | None = None
        self.online = self.stopped = self.logged_out = False
        self.qr_codes: list[str] = []
        self.qr_open = False
        self.window: asyncio.Task[None] | None = None
        self._NewAClient__client = AsyncGo(self.far.go)  # neonize's private attribute
        self._stop_finalizer = weakref.finalize(self, FakeNewAClient._release_ffi, self.uuid,
                                                self.far.go)
        self.far.clients.append(self)

    @staticmethod
    def _release_ffi(uuid: bytes, go: FakeGo) -> None:
        go.Stop(uuid)  # neonize's finalizer: by device id, whichever client has it now

    async def connect(self, proxy_settings: ProxySettings | None = None):
        self.loop = asyncio.get_running_loop()
        # neonize keeps the first loop it sees for the whole process; each test has its own
        neonize_events.event_global_loop = self.loop
        self.connect_task = self.loop.create_task(self._run())
        return self.connect_task

    async def _run(self) -> None:
        error = await self._NewAClient__client.Neonize(self)
        if error:
            raise NeonizeError(error.decode())

    async def begin(self) -> None:
        """What the Go core does once connected: resume the stored device, or pair."""
        if self.far.silent:
            return
        self.linked = self.far.stored_device(self)
        if self.linked is not None:
            await self.far.come_back(self)
        else:
            self.qr_open = True
            await self.show_qr()
            self.window = asyncio.get_running_loop().create_task(self._qr_window())

    async def _qr_window(self) -> None:
        await asyncio.sleep(self.far.qr_first)
        for _ in range(self.far.qr_count):
            if self.linked is not None or self.stopped:
                return
            await self.show_qr()
            await asyncio.sleep(self.far.qr_next)
        self.qr_open = False  # whatsmeow's QR channel times out: codes and pair codes die
        for code in [c for c, (client, _) in self.far.pair_codes.items() if client is self]:
            del self.far.pair_codes[code]

    async def disconnect(self) -> None:
        self.online = False

    async def stop(self):
        await self._NewAClient__client.Stop(self.uuid)

    async def logout(self):
        if not self.online:
            raise LogoutError("websocket not connected")
        self.logged_out = True
        await self.far.forget(self)

    async def send_message(self, to: JID | str, message: Any, link_preview: bool = False,
                           ghost_mentions: str | None = None, mentions_are_lids: bool = False,
                           add_msg_secret: bool = False) -> SendResponse:
        self.far.send_calls += 1
        if not self.far.go.live(self) and (self.stopped or self.connect_task is not None):
            raise SendMessageError("client is nil")
        if self.far.send_failures:
            raise self.far.send_failures.pop(0)
        if not self.online:
            raise SendMessageError("websocket not connected")
        to = to if isinstance(to, JID) else build_jid(to)
        text = message if isinstance(message, str) else message.conversation
        message_id = "3EB0" + secrets.token_hex(8).upper()
        self.far.sent.append(Outgoing(self.uuid.decode(), to, text, message_id,
                                      None if isinstance(message, str) else message))
        timings = MessageDebugTimings(Queue=0, Marshal=0, GetParticipants=0, GetDevices=0,
                                      GroupEncrypt=0, PeerEncrypt=0, Send=0, Resp=0, Retry=0)
        return SendResponse(ID=message_id, Timestamp=int(time.time()), ServerID=0,
                            DebugTimings=timings)

    async def PairPhone(self, phone: str, show_push_notification: bool,  # noqa: N802
                        client_name: ClientName = ClientName.LINUX,
                        client_type: ClientType | None = None) -> str:
        if not self.qr_codes or self.stopped or not self.qr_open:
            raise PairPhoneError("must be connected and waiting for a QR scan")
        code = "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(8))
        code = f"{code[:4]}-{code[4:]}"  # as whatsmeow returns it
        self.far.pair_codes[code] = (self, phone)
        return code

    async def is_on_whatsapp(self, *numbers: str) -> Sequence[IsOnWhatsAppResponse]:
        """whatsmeow's IsOnWhatsApp: numbers as `+<digits>`, answered per query."""
        self.far.lookups.extend(numbers)
        if not self.online:
            raise IsOnWhatsAppError("websocket not connected")
        answers = []
        for query in numbers:
            user = query.lstrip("+")
            found = user in self.far.accounts
            answers.append(IsOnWhatsAppResponse(
                Query=query, IsIn=found, VerifiedName=None,
                JID=build_jid(user) if found else empty_jid()))
        return answers

    async def get_me(self) -> Device:
        if not self.far.go.live(self):  # neonize's Go code dereferences the nil client
            raise AssertionError("SIGSEGV in main.GetMe: the device process aborts (134)")
        return Device(JID=self.linked or empty_jid(), Platform="android", BussinessName="",
                      PushName="", Initialized=self.linked is not None)

    @property
    def is_connected(self) -> bool:
        return self.online

    async def upload(self, binary: bytes, media_type: MediaType | None = None) -> UploadResponse:
        """whatsmeow's Upload: the file kept on WhatsApp's side under a new direct path
        (encrypted there: `FileSHA256` of the file, `FileEncSHA256` of what is stored)."""
        if not self.online:
            raise UploadError("websocket not connected")
        if self.far.upload_failures:
            self.far.upload_failures -= 1
            raise UploadError("upload failed with status code 500")
        self.far.uploads.append(media_type)
        path = f"/v/t62.7118-24/{secrets.token_hex(16)}.enc"
        self.far.media[path] = binary
        key = secrets.token_bytes(32)
        return UploadResponse(url=f"https://mmg.whatsapp.net{path}", DirectPath=path,
                              MediaKey=key, FileSHA256=hashlib.sha256(binary).digest(),
                              FileEncSHA256=hashlib.sha256(key + binary).digest(),
                              FileLength=len(binary))

    async def download_any(self, message: Any, path: str | None = None) -> None | bytes:
        media = next((getattr(message, f) for f in MEDIA_FIELDS if message.HasField(f)), None)
        if media is None:
            raise DownloadError("no media present")
        if self.far.download_failures:
            self.far.download_failures -= 1
            raise DownloadError("download failed with status code 500")
        data = self.far.media.get(media.directPath)
        if data is None:
            raise DownloadError("download failed with status code 404")
        if hashlib.sha256(data).digest() != media.fileSHA256:
            raise DownloadError("mismatching media sha256")
        return data

    async def get_pn_from_lid(self, jid: JID) -> JID:
        phone = next((p for p, lid in self.far.lids.items() if lid == jid.User), "")
        return JID(User=phone, Server="s.whatsapp.net" if phone else "", RawAgent=0,
                   Device=0, Integrator=0)

    async def get_lid_from_pn(self, jid: JID) -> JID:
        lid = self.far.lids.get(jid.User, "")
        return JID(User=lid, Server="lid" if lid else "", RawAgent=0, Device=0,
                   Integrator=0)

    # What the Go core does

    async def show_qr(self) -> str:
        ref, keys = secrets.token_urlsafe(18), [secrets.token_urlsafe(32) for _ in range(3)]
        code = f"2@{ref},{','.join(keys)}"
        self.qr_codes.append(code)
        loop = self.loop
        assert loop is not None
        await asyncio.to_thread(lambda: asyncio.run_coroutine_threadsafe(
            self.event._qr(self, code.encode()), loop))
        return code

    async def deliver_unknown(self, code: int = 999, data: bytes = b"\xff\x00") -> None:
        """An event this neonize cannot map (a newer whatsmeow's), as the Go core hands it."""
        buffer = ctypes.create_string_buffer(data, len(data))
        await asyncio.to_thread(self.event.execute, 0, ctypes.addressof(buffer), len(data),
                                code)

    async def deliver(self, event: Any) -> None:
        """Serialize and hand over as the Go core does; unsubscribed types are not sent."""
        code = EVENT_TO_INT[type(event)]
        if code not in self.event.list_func or self.stopped:
            return
        data = event.SerializeToString()
        buffer = ctypes.create_string_buffer(data, len(data))
        await asyncio.to_thread(self.event.execute, 0, ctypes.addressof(buffer), len(data), code)
