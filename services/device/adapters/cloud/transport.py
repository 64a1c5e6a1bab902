"""The cloud transport: Meta's WhatsApp Business Cloud API (text and template sends,
status and message webhooks).

Devices: each device id maps to a Cloud API phone number id
(`SWITCHBOARD_CLOUD_PHONE_NUMBER_IDS`). There is no QR to scan: `start_pairing`
activates the number — it looks the number up, which also checks the token — answers
with a `https://wa.me/<number>` link as the QR text, and reports the device `Linked`
(vouched: empty ref) a moment later, once that QR is recorded. `resume` repeats the
look-up without reporting anything.

Sends go through the send ledger (at most once per transport message id) and carry our
transport message id as `biz_opaque_callback_data`. Errors: errors.py.

Statuses: the gateway verifies each webhook's signature and forwards its statuses over
gRPC (CloudWebhookService); `accept_statuses` turns them into receipts (statuses.py),
`accept_messages` the messages people send the number into Inbound (inbound.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from kernel.clock import Clock, utcnow
from kernel.errors import InvalidRequestError, UnavailableError
from kernel.media import MediaStore
from services.device.adapters.cloud.api import (
    GraphApi,
    RetryPolicy,
    Template,
    media_message,
    template_message,
    text_message,
)
from services.device.adapters.cloud.errors import CloudUnavailableError, GraphError, Handling
from services.device.adapters.cloud.inbound import CloudMessage, InboundReader, InboundTally
from services.device.adapters.cloud.statuses import (
    CloudStatus,
    StatusReceipts,
    StatusTally,
)
from services.device.adapters.send_ledger import SendLedger, send_once
from services.device.adapters.tasks import TaskSet
from services.device.app.transport import (
    Linked,
    Pairing,
    Sent,
    SessionDownError,
    SessionFailed,
    TransportError,
    TransportEvent,
    TransportSink,
    Trouble,
    digits,
    stored_media,
)
from services.device.domain.commands import MediaFile
from services.device.domain.errors import UnsupportedByTransportError
from services.device.settings import DeviceSettings

log = logging.getLogger(__name__)
MEDIA_IDS_KEPT = 1024  # Meta's media ids of files uploaded lately, per number (30 days valid)


class CloudNotConfiguredError(InvalidRequestError):
    code = "INVALID_REQUEST"


class CloudActivationError(UnavailableError):
    """Meta refused or could not answer the look-up of the device's phone number."""


class CloudTransport:
    name = "cloud"

    def __init__(self, api: GraphApi, ledger: SendLedger, phone_number_ids: Mapping[str, str],
                 *, qr_ttl: float = 60.0, link_delay: float = 0.5,
                 clock: Clock = utcnow, media: MediaStore | None = None) -> None:
        self.api = api
        self.media = media  # where media sends' files are read (cloud_from passes it)
        self._media_ids: dict[tuple[str, str], str] = {}  # (number id, sha256) -> Meta's id
        self.ledger = ledger
        self.phone_number_ids = dict(phone_number_ids)
        self.devices_by_number = {n: d for d, n in self.phone_number_ids.items()}
        self.qr_ttl = qr_ttl
        self.link_delay = link_delay
        self.clock = clock
        self.statuses = StatusReceipts(ledger, self.devices_by_number, self._emit, clock)
        self.inbound = InboundReader(api, self.devices_by_number, self._emit, clock)
        self._sink: TransportSink | None = None
        self._up: set[str] = set()
        self._tasks = TaskSet(log, "cloud: link not recorded")

    def attach(self, sink: TransportSink) -> None:
        self._sink = sink

    # Linking: activation of a configured number

    async def start_pairing(self, device_id: str) -> Pairing:
        phone = await self._activate(device_id)
        self._tasks.spawn(self._link_later(Linked(device_id, "", phone)))
        return Pairing(f"https://wa.me/{phone}", self.clock() + timedelta(seconds=self.qr_ttl))

    async def resume(self, device_id: str, phone_number: str) -> bool:
        try:
            await self._activate(device_id)
        except (InvalidRequestError, UnavailableError) as exc:
            log.warning("cloud %s: not resumed: %s", device_id, exc)
            await self._emit(Trouble(device_id, f"Cloud API: {exc.message}"))
            return False
        return True

    async def release(self, device_id: str) -> None:
        self._up.discard(device_id)

    async def logout(self, device_id: str) -> None:
        self._up.discard(device_id)  # nothing is linked at Meta's side to log out of

    async def _activate(self, device_id: str) -> str:
        number_id = self.phone_number_ids.get(device_id)
        if not number_id:
            raise CloudNotConfiguredError(
                f"device {device_id} has no Cloud API phone number id "
                "(SWITCHBOARD_CLOUD_PHONE_NUMBER_IDS)", device_id=device_id)
        try:
            found = await self.api.phone_number(number_id)
        except GraphError as exc:
            raise CloudActivationError(exc.reason, device_id=device_id) from exc
        except CloudUnavailableError as exc:
            raise CloudActivationError(str(exc), device_id=device_id) from exc
        self._up.add(device_id)
        return digits(str(found.get("display_phone_number", ""))) or number_id

    # Messages

    async def send(self, device_id: str, to: str, body: str,
                   transport_message_id: str) -> Sent:
        return await self._send(device_id, text_message(to, body, transport_message_id),
                                transport_message_id)

    async def send_media(self, device_id: str, to: str, media: MediaFile, caption: str,
                         transport_message_id: str) -> Sent:
        """The stored file uploaded to Meta (`POST /{phone_number_id}/media`, once per
        number and file while this process runs), then sent by its media id."""
        if device_id not in self._up:
            raise SessionDownError(f"device {device_id}: its Cloud API number is not active")
        number_id = self.phone_number_ids[device_id]

        async def upload_and_send() -> tuple[str, datetime]:
            media_id = await self._graph(device_id, self._media_id(number_id, media))
            return await self._post(device_id, number_id, media_message(
                to, media_id, media, caption, transport_message_id))

        return await send_once(self.ledger, self.name, device_id, transport_message_id,
                               upload_and_send)

    async def _media_id(self, number_id: str, media: MediaFile) -> str:
        key = (number_id, media.sha256)
        if key not in self._media_ids:
            content = await stored_media(self.media, media)
            self._media_ids[key] = await self.api.upload_media(
                number_id, content, media.mime_type, media.filename)
            while len(self._media_ids) > MEDIA_IDS_KEPT:
                self._media_ids.pop(next(iter(self._media_ids)))
        return self._media_ids[key]

    async def send_template(self, device_id: str, to: str,
                            template: Template | Mapping[str, Any],
                            transport_message_id: str) -> Sent:
        """A template, the only message that opens a conversation outside the 24-hour
        window: ours, or Meta's own `template` object as a send names it."""
        chosen = template if isinstance(template, Template) else Template.of(template)
        return await self._send(device_id,
                                template_message(to, chosen, transport_message_id),
                                transport_message_id)

    async def request_pairing_code(self, device_id: str, phone_number: str) -> Pairing:
        raise UnsupportedByTransportError(
            "The cloud transport has no pairing codes: a Cloud API number is registered "
            "with Meta (SWITCHBOARD_CLOUD_PHONE_NUMBER_IDS), not linked from a phone",
            device_id=device_id)

    async def on_whatsapp(self, device_id: str,
                          numbers: Sequence[str]) -> dict[str, bool | None]:
        """The Cloud API has no look-up of numbers: every answer is unknown."""
        return dict.fromkeys(numbers)

    async def _send(self, device_id: str, payload: dict[str, Any],
                    transport_message_id: str) -> Sent:
        if device_id not in self._up:
            raise SessionDownError(f"device {device_id}: its Cloud API number is not active")
        number_id = self.phone_number_ids[device_id]
        return await send_once(self.ledger, self.name, device_id, transport_message_id,
                               lambda: self._post(device_id, number_id, payload))

    async def _post(self, device_id: str, number_id: str,
                    payload: dict[str, Any]) -> tuple[str, datetime]:
        wamid = await self._graph(device_id, self.api.send_message(number_id, payload))
        return wamid, self.clock()

    async def _graph(self, device_id: str, call: Awaitable[str]) -> str:
        """A Graph API call's answer; its refusal for good as a TransportError (a halted
        sender's as SessionDownError, the message handed back)."""
        try:
            return await call
        except GraphError as exc:
            if exc.handling is Handling.HALT:
                await self._halt(device_id, exc.reason)
                raise SessionDownError(f"handed back, the sender is halted: {exc.reason}") \
                    from exc
            raise TransportError(exc.reason) from exc

    async def _halt(self, device_id: str, reason: str) -> None:
        log.error("cloud %s: sender halted: %s", device_id, reason)
        self._up.discard(device_id)
        await self._emit(SessionFailed(device_id, f"sender halted: {reason}"))

    # Status webhooks

    async def accept_statuses(self, statuses: Sequence[CloudStatus]) -> StatusTally:
        return await self.statuses.accept(statuses)

    # Message webhooks

    async def accept_messages(self, messages: Sequence[CloudMessage]) -> InboundTally:
        """Each message as an Inbound, its media fetched (inbound.py)."""
        return await self.inbound.accept(messages)

    # Plumbing

    async def _emit(self, event: TransportEvent) -> None:
        if self._sink is not None:
            await self._sink(event)

    async def _link_later(self, event: Linked) -> None:
        await asyncio.sleep(self.link_delay)
        await self._emit(event)

    async def idle(self) -> None:
        await self._tasks.idle()

    async def close(self) -> None:
        await self._tasks.cancel()
        await self.api.close()
        await self.ledger.close()


def cloud_from(settings: DeviceSettings, media: MediaStore) -> CloudTransport:
    if not settings.cloud_access_token or not settings.cloud_phone_number_ids:
        raise ValueError("the cloud transport needs SWITCHBOARD_CLOUD_ACCESS_TOKEN and "
                         "SWITCHBOARD_CLOUD_PHONE_NUMBER_IDS")
    api = GraphApi(settings.cloud_base_url, settings.cloud_api_version,
                   settings.cloud_access_token, timeout=settings.cloud_timeout_seconds,
                   policy=RetryPolicy(settings.cloud_max_retries,
                                      settings.cloud_retry_base_ms / 1000,
                                      budget=0.75 * settings.dispatch_send_timeout_seconds))
    return CloudTransport(api, SendLedger.for_settings(settings),
                          settings.cloud_phone_number_ids, qr_ttl=float(settings.qr_ttl_seconds),
                          media=media)
