"""The simulator transport: WhatsApp's far side simulated, deterministic enough to test.

It hands out pairing references (the QR text; rotated like WhatsApp's: the first QR of
a linking attempt lives `qr_ttl`, each later one `qr_refresh`, and each new one
replaces the last), links a device when a simulated phone scans one, accepts sends and
reports delivered and read receipts after the configured delays (with no read delay, one
read receipt, which implies delivery, as WhatsApp's does). Each recipient's inbox
keeps a message once per transport message id, however often it is sent. Failures come
at a configured rate from an injectable random generator: refusals for good
(`failure_rate`) and passing ones (`transient_failure_rate`, nothing kept). An outage of
the far side (`SimulatedWhatsApp.begin_outage`) refuses, leaves unanswered or cuts off
every send while it lasts. A send can take `send_latency` to be acknowledged (the far
side already has it: a crash in that window is the "killed mid-send" case). The phone
side can drop the network for a while, log out, or ban the number.

A device can also be linked by a pairing code (WhatsApp's "link with phone number"):
eight characters of WhatsApp's alphabet, issued for one phone number and living
`pair_code_ttl`; the phone of that number types it (`enter_pairing_code`). Whether a
number is on WhatsApp follows one rule (`on_whatsapp`): every number is, except those
ending in 0000; the far side still takes sends to any number.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import NoReturn
from urllib.parse import parse_qs, urlencode, urlsplit

from kernel.clock import Clock, utcnow
from kernel.media import MediaStore, digest
from services.device.adapters.simulator.far_side import (
    InboxMedia,
    InboxMessage,
    Outage,
    SimulatedWhatsApp,
)
from services.device.adapters.simulator.phones import phone_message
from services.device.adapters.tasks import TaskSet
from services.device.app.transport import (
    Banned,
    Linked,
    Pairing,
    Receipt,
    ReceiptKind,
    Sent,
    SessionDownError,
    TransientTransportError,
    TransportError,
    TransportEvent,
    TransportSink,
    Trouble,
    Unlinked,
    digits,
    stored_media,
)
from services.device.domain.commands import MediaFile, SimulateInbound
from services.device.domain.errors import DeviceNotFoundError, InvalidPairingRefError

log = logging.getLogger(__name__)

SCHEME = "sbsim"
PAIRING_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # WhatsApp's: no 0, I, O or U
NOT_ON_WHATSAPP = "0000"  # the simulator's numbers ending so have no WhatsApp
REPORTING = 16  # receipts being recorded at once
__all__ = ["InboxMessage", "Outage", "SimulatorTransport", "decode_pairing_ref",
           "pairing_ref_for"]


def pairing_ref_for(device_id: str, nonce: str) -> str:
    return f"{SCHEME}://pair?" + urlencode({"device": device_id, "ref": nonce})


def decode_pairing_ref(pairing_ref: str) -> tuple[str, str]:
    """(device_id, nonce) from a QR's text; InvalidPairingRefError if it is not ours."""
    parts = urlsplit(pairing_ref)
    query = parse_qs(parts.query)
    if parts.scheme != SCHEME or "device" not in query or "ref" not in query:
        raise InvalidPairingRefError("not a Switchboard simulator QR code")
    return query["device"][0], query["ref"][0]


class SimulatorTransport:
    name = "simulator"

    def __init__(self, delivery_delay: float = 0.2, read_delay: float = 0.8,
                 failure_rate: float = 0.0, transient_failure_rate: float = 0.0,
                 qr_ttl: float = 60.0, qr_refresh: float = 20.0,
                 send_latency: float = 0.0, far_side: SimulatedWhatsApp | None = None,
                 rng: random.Random | None = None,
                 clock: Clock = utcnow, pair_code_ttl: float = 180.0,
                 media: MediaStore | None = None) -> None:
        self.delivery_delay = delivery_delay
        self.read_delay = read_delay
        self.failure_rate = failure_rate
        self.transient_failure_rate = transient_failure_rate
        self.qr_ttl = qr_ttl
        self.qr_refresh = qr_refresh
        self.send_latency = send_latency
        self.pair_code_ttl = pair_code_ttl
        self.far = far_side or SimulatedWhatsApp()
        self.media = media  # where sends' files are read (transports.py passes it)
        self.rng = rng or random.Random()
        self.clock = clock
        self.sends = 0  # sends this process handed to the far side
        self._sink: TransportSink | None = None
        self._up: set[str] = set()  # sessions held by this process
        self._tasks = TaskSet(log, "simulator: receipt not recorded")
        self._timing: set[str] = set()  # transport ids whose receipts this process times
        # Receipts are reported a few at a time, as a client's event handler takes them,
        # not all at once: a burst must not take every store connection from sends (a
        # pool has 15 or more). Sixteen at a time share the group commit's transactions:
        # a third as many as four did.
        self._reporting = asyncio.Semaphore(REPORTING)
        self._handing: dict[str, asyncio.Lock] = {}  # per device: messages from phones
        self._settled: list[tuple[str, str, str]] = []  # reported, not yet forgotten

    def attach(self, sink: TransportSink) -> None:
        self._sink = sink

    # Linking

    async def start_pairing(self, device_id: str) -> Pairing:
        ttl = self.qr_refresh if self.far.has_pairing(device_id) else self.qr_ttl
        ref = pairing_ref_for(device_id, secrets.token_urlsafe(12))
        expires_at = self.clock() + timedelta(seconds=ttl)
        self.far.replace_pairing(device_id, ref, expires_at)
        return Pairing(ref, expires_at)

    async def request_pairing_code(self, device_id: str, phone_number: str) -> Pairing:
        code = "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(8))
        expires_at = self.clock() + timedelta(seconds=self.pair_code_ttl)
        self.far.replace_pair_code(device_id, code, digits(phone_number), expires_at)
        return Pairing(code, expires_at)

    async def scan(self, pairing_ref: str, phone_number: str) -> str:
        """A phone scans the QR: links its session and reports it; returns the device id."""
        decode_pairing_ref(pairing_ref)
        device_id = self.far.pairing_device(pairing_ref, self.clock())
        await self._link(device_id, pairing_ref, digits(phone_number))
        return device_id

    async def enter_pairing_code(self, code: str, phone_number: str) -> str:
        """The phone of the number the code was issued for types it (any case, with or
        without the dash WhatsApp shows): links the device as a scan does (the transport
        vouches: no QR reference); returns the device id."""
        typed = code.replace("-", "").strip().upper()
        device_id = self.far.pair_code_device(typed, digits(phone_number), self.clock())
        await self._link(device_id, "", digits(phone_number))
        return device_id

    async def _link(self, device_id: str, pairing_ref: str, phone: str) -> None:
        self.far.link(device_id, phone)
        self._up.add(device_id)
        try:
            await self._emit(Linked(device_id, pairing_ref, phone))
        except BaseException:
            self.far.unlink(device_id)
            self._up.discard(device_id)
            raise
        self.far.clear_pairings(device_id)

    async def resume(self, device_id: str, phone_number: str) -> bool:
        session = self.far.session(device_id)
        if session is None:
            return False
        if not session.online_at(self.clock()):
            await self._emit(Trouble(device_id, "WhatsApp (simulated) unreachable: the "
                                                "phone's network is down"))
            return False
        self._up.add(device_id)
        self._tasks.spawn(self._owed(device_id))
        self._tasks.spawn(self._hand_over(device_id))
        return True

    async def release(self, device_id: str) -> None:
        self._up.discard(device_id)

    async def logout(self, device_id: str) -> None:
        self.far.unlink(device_id)
        self._up.discard(device_id)

    def is_linked(self, device_id: str) -> bool:
        return device_id in self._up

    # The phone's side

    async def drop(self, device_id: str, reason: str = "connection lost",
                   outage: float = 0.0) -> None:
        """The network goes down for `outage` seconds; the link itself stays."""
        self.far.set_offline(device_id, self.clock() + timedelta(seconds=outage))
        self._up.discard(device_id)
        await self._emit(Unlinked(device_id, reason, logged_out=False))

    async def logout_from_phone(self, device_id: str,
                                reason: str = "logged out from the phone") -> None:
        await self.logout(device_id)
        await self._emit(Unlinked(device_id, reason, logged_out=True))

    async def ban(self, device_id: str, reason: str = "banned by WhatsApp") -> None:
        await self.logout(device_id)
        await self._emit(Banned(device_id, reason))

    # Messages

    async def send(self, device_id: str, to: str, body: str,
                   transport_message_id: str) -> Sent:
        return await self._send(device_id, to, body, transport_message_id)

    async def send_media(self, device_id: str, to: str, media: MediaFile, caption: str,
                         transport_message_id: str) -> Sent:
        """The phone gets the file's bytes from the media store and keeps their hash,
        kind, MIME type, size and file name beside the caption."""
        content = await stored_media(self.media, media)
        received = InboxMedia(digest(content), media.kind, media.mime_type, len(content),
                              media.filename)
        return await self._send(device_id, to, caption, transport_message_id, received)

    async def _send(self, device_id: str, to: str, body: str, transport_message_id: str,
                    media: InboxMedia | None = None) -> Sent:
        now = self.clock()
        session, outage = self.far.sending(device_id, now) if device_id in self._up \
            else (None, None)
        if session is None:
            raise SessionDownError(f"device {device_id} is not connected")
        if self.failure_rate and self.rng.random() < self.failure_rate:
            raise TransportError("simulated delivery failure")
        if self.transient_failure_rate and self.rng.random() < self.transient_failure_rate:
            raise TransientTransportError("simulated passing failure")
        if outage is not None and outage[0] is not Outage.CUT:
            await self._refuse(*outage)
        # Acknowledged at once (no outage, no latency): the receipts are owed in the
        # transaction that keeps the message; else only once it is acknowledged.
        at_once = outage is None and not self.send_latency
        self.far.deliver(digits(to), InboxMessage(transport_message_id,
                                                  session.phone_number, body, device_id, now,
                                                  media),
                         self._owed_for(now) if at_once else None)
        self.sends += 1
        if outage is not None:
            raise TransientTransportError("the connection dropped before WhatsApp "
                                          "acknowledged the message")
        if not at_once:
            await asyncio.sleep(self.send_latency)
            self.far.owe_receipts(device_id, transport_message_id, self._owed_for(now))
        self._tasks.spawn(self._receipts(device_id, transport_message_id))
        return Sent(transport_message_id, now)

    def _owed_for(self, sent_at: datetime) -> list[tuple[str, datetime]]:
        """The receipts a message sent at `sent_at` earns, and when each is due."""
        delivered_at = sent_at + timedelta(seconds=self.delivery_delay)
        owed: list[tuple[str, datetime]] = [
            (ReceiptKind.READ, delivered_at + timedelta(seconds=self.read_delay))]
        if self.read_delay:
            owed.insert(0, (ReceiptKind.DELIVERED, delivered_at))
        return owed

    async def send_template(self, device_id: str, to: str, template: Mapping[str, object],
                            transport_message_id: str) -> Sent:
        raise TransportError("the simulator has no Meta templates (the cloud transport "
                             "sends them)")

    async def on_whatsapp(self, device_id: str,
                          numbers: Sequence[str]) -> dict[str, bool | None]:
        if self.far.session(device_id) is None:
            raise SessionDownError(f"device {device_id} is not connected")
        return {n: not n.endswith(NOT_ON_WHATSAPP) for n in numbers}

    async def _refuse(self, outage: Outage, until: datetime) -> NoReturn:
        if outage is Outage.SILENT:  # no answer until it ends, or the caller gives up
            await asyncio.sleep(max(0.0, (until - self.clock()).total_seconds()))
            raise TransientTransportError("WhatsApp did not answer")
        raise TransientTransportError("WhatsApp is unavailable")

    async def phone_sends(self, cmd: SimulateInbound) -> tuple[str, str]:
        """A phone sends a message to the number `cmd.to_phone`: the far side keeps it and
        hands it to the device linked to that number once its session is up here (at
        once if it is). Returns the device id and the message's transport id;
        DeviceNotFoundError when no device has that number."""
        device_id = self.far.device_for(digits(cmd.to_phone))
        if device_id is None:
            raise DeviceNotFoundError(f"no device is linked to {digits(cmd.to_phone)}")
        message = phone_message(cmd, self.clock())
        self.far.incoming.add(device_id, message, cmd.media)
        if device_id in self._up:
            await self._hand_over(device_id)
        return device_id, message.transport_message_id

    async def _hand_over(self, device_id: str) -> None:
        """What the far side holds for the device, in order, each forgotten once the
        sink has recorded it (one hand-over per device at a time)."""
        async with self._handing.setdefault(device_id, asyncio.Lock()):
            for message, media in self.far.incoming.waiting(device_id):
                if device_id not in self._up:
                    return
                await self._emit(message.inbound(device_id, media))
                self.far.incoming.handed_over(device_id, message.transport_message_id)

    def inbox(self, phone_number: str) -> list[InboxMessage]:
        return self.far.inbox(digits(phone_number))

    async def _receipts(self, device_id: str, transport_message_id: str) -> None:
        self._timing.add(transport_message_id)
        try:
            await asyncio.sleep(self.delivery_delay)
            if self.read_delay:
                await self._report(device_id, transport_message_id, ReceiptKind.DELIVERED)
                await asyncio.sleep(self.read_delay)
            # Read the moment it arrived: one read receipt, which says delivered too (as
            # WhatsApp's does), and the dispatch records both in one append.
            await self._report(device_id, transport_message_id, ReceiptKind.READ)
        finally:
            self._timing.discard(transport_message_id)

    async def _owed(self, device_id: str) -> None:
        """A session resumed here (taken over from a replica that died, or after a
        restart): report the receipts its last holder still owed, each when due."""
        for transport_message_id, kind, due in self.far.owed_receipts(device_id):
            if transport_message_id not in self._timing:
                await asyncio.sleep(max(0.0, (due - self.clock()).total_seconds()))
                await self._report(device_id, transport_message_id, ReceiptKind(kind))

    async def _report(self, device_id: str, transport_message_id: str,
                      kind: ReceiptKind) -> None:
        async with self._reporting:
            await self._emit(Receipt(device_id, transport_message_id, kind, self.clock()))
        if not self._settled:  # the first of this turn: the rest join it
            self._tasks.spawn(self._forget_settled())
        self._settled.append((device_id, transport_message_id, kind))

    async def _forget_settled(self) -> None:
        """The far side forgets the receipts reported in one turn of the loop at once
        (one transaction, not one each). A crash before it only means the next holder
        of the session reports them again, which changes nothing."""
        await asyncio.sleep(0)
        self._forget()

    def _forget(self) -> None:
        settled, self._settled = self._settled, []
        if settled:
            self.far.settle_receipts(settled)

    # Plumbing

    async def _emit(self, event: TransportEvent) -> None:
        if self._sink is not None:
            await self._sink(event)

    async def idle(self) -> None:
        """Wait until every scheduled receipt has been reported."""
        await self._tasks.idle()

    async def close(self) -> None:
        await self._tasks.cancel()
        self._forget()
        self._up.clear()
