"""The `messages[]` of Meta's webhooks, read as the port's `Inbound` (the gateway verified
the signature and forwards each message with its sender's `contacts[]` entry).

| Meta's `type` | Inbound type | text | also |
|---|---|---|---|
| `text` | text | `text.body` | |
| `button` (a template's quick reply) | text | `button.text` | |
| `interactive` (a reply or list choice) | text | the chosen title | |
| `image`, `sticker` | image | the caption | the file |
| `document` | document | the caption | the file and its `filename` |
| `audio` (voice notes too) | audio | | the file |
| `video` | video | the caption | the file |
| `location` | location | name, address | latitude, longitude |
| `contacts` | contact | the first formatted name | a vCard per contact |
| `reaction` | reaction | the emoji (empty: taken back) | quoted = `reaction.message_id` |

Other types (`unsupported`, `system`, `order`, `request_welcome`, …) are not reported.
`context.id` is the quoted message. The sender: `from` (or the contact's `wa_id`) is the
number; the business-scoped user id (BSUID, `from_user_id` or the contact's `user_id`)
is reported as `from_lid`: Meta's privacy id for users who hide their number behind a
username, and the only id of such a sender (their chat id too). A group message
(`group_id`) is the group's chat.

Media: `GET /{version}/{media-id}` answers `{url, mime_type, sha256, file_size}`, then
the URL is fetched with the same bearer token and checked against the sha256 and size.
When Meta cannot answer now (unreachable, 5xx, a rate limit) or the file arrives
damaged, the call fails as unavailable: the gateway answers 503 and Meta delivers the
webhook again. When Meta refuses the media for good (an expired or unknown id), the
message is reported without its file, logged, rather than never.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from kernel.clock import Clock
from kernel.errors import UnavailableError
from kernel.loosejson import as_int, as_object, as_objects
from services.device.adapters.cloud.api import GraphApi
from services.device.adapters.cloud.errors import GraphError, Handling
from services.device.adapters.inbound import Content, Origin, inbound_of
from services.device.app.transport import (
    Inbound,
    InboundMedia,
    InboundType,
    TransportSink,
    digits,
)

log = logging.getLogger(__name__)

MEDIA = {"image": InboundType.IMAGE, "sticker": InboundType.IMAGE,
         "document": InboundType.DOCUMENT, "audio": InboundType.AUDIO,
         "video": InboundType.VIDEO}


@dataclass(frozen=True)
class CloudMessage:
    """One `messages[]` entry, with its `metadata.phone_number_id` and the sender's
    `contacts[]` entry (empty when Meta sent none)."""

    phone_number_id: str
    message: Mapping[str, Any]
    contact: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class InboundTally:
    received: int = 0
    ignored: int = 0


def content_of(message: Mapping[str, Any]) -> Content | None:
    """What the message says, by its type; None for a type not reported."""
    kind = str(message.get("type", ""))
    body = as_object(message.get(kind))
    quoted = str(as_object(message.get("context")).get("id", ""))
    if kind in MEDIA:
        return Content(MEDIA[kind], str(body.get("caption", "")), quoted,
                       media_id=str(body.get("id", "")), filename=str(body.get("filename", "")))
    if kind == "location":
        said = (str(body.get(k, "")) for k in ("name", "address"))
        return Content(InboundType.LOCATION, ", ".join(p for p in said if p), quoted,
                       float(body.get("latitude") or 0), float(body.get("longitude") or 0))
    if kind == "contacts":
        cards = as_objects(message.get("contacts"))
        first = as_object(cards[0].get("name")).get("formatted_name", "") if cards else ""
        return Content(InboundType.CONTACT, str(first), quoted,
                       vcard="".join(vcard_of(c) for c in cards))
    if kind == "reaction":
        return Content(InboundType.REACTION, str(body.get("emoji", "")),
                       str(body.get("message_id", "")))
    text = _text_of(kind, body)
    return Content(InboundType.TEXT, text, quoted) if text is not None else None


def _text_of(kind: str, body: dict[str, Any]) -> str | None:
    if kind == "text":
        return str(body.get("body", ""))
    if kind == "button":
        return str(body.get("text", ""))
    if kind == "interactive":
        chosen = as_object(body.get(str(body.get("type", ""))))
        return str(chosen.get("title") or chosen.get("body") or "")
    return None


def vcard_of(contact: Mapping[str, Any]) -> str:
    """The contact as Meta gave it: its own `vcard`, else one built from its fields."""
    if contact.get("vcard"):
        card = str(contact["vcard"])
        return card if card.endswith("\n") else card + "\n"
    name = as_object(contact.get("name"))
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{name.get('formatted_name', '')}",
             f"N:{name.get('last_name', '')};{name.get('first_name', '')};;;"]
    for phone in as_objects(contact.get("phones")):
        waid = f";waid={phone['wa_id']}" if phone.get("wa_id") else ""
        lines.append(f"TEL;type={phone.get('type', 'CELL')}{waid}:{phone.get('phone', '')}")
    lines += [f"EMAIL;type={e.get('type', 'INTERNET')}:{e.get('email', '')}"
              for e in as_objects(contact.get("emails"))]
    org = as_object(contact.get("org"))
    if org.get("company"):
        lines.append(f"ORG:{org['company']}")
    return "\n".join([*lines, "END:VCARD"]) + "\n"


class InboundReader:
    def __init__(self, api: GraphApi, devices_by_number: Mapping[str, str],
                 emit: TransportSink, clock: Clock) -> None:
        self.api = api
        self.devices_by_number = devices_by_number
        self.emit = emit
        self.clock = clock

    async def accept(self, messages: Sequence[CloudMessage]) -> InboundTally:
        """Report each message in the order Meta listed it."""
        tally = InboundTally()
        for message in messages:
            inbound = await self.read(message)
            if inbound is None:
                tally.ignored += 1
                continue
            await self.emit(inbound)
            tally.received += 1
        return tally

    async def read(self, cloud: CloudMessage) -> Inbound | None:
        device_id = self.devices_by_number.get(cloud.phone_number_id)
        message = cloud.message
        content = content_of(message)
        if device_id is None or content is None or not message.get("id"):
            log.info("cloud: message %s of type %r for number %s not reported",
                     message.get("id"), message.get("type"), cloud.phone_number_id)
            return None
        phone = digits(str(message.get("from") or cloud.contact.get("wa_id") or ""))
        bsuid = str(message.get("from_user_id") or cloud.contact.get("user_id") or "")
        group = str(message.get("group_id", ""))
        origin = Origin(device_id, str(message["id"]), phone, bsuid, group or phone or bsuid,
                        bool(group), self._at(message),
                        str(as_object(cloud.contact.get("profile")).get("name", "")))
        media = await self._media(origin.message_id, content) if content.media_id else None
        return inbound_of(origin, content, media)

    def _at(self, message: Mapping[str, Any]) -> datetime:
        stamp = as_int(message.get("timestamp"))
        return datetime.fromtimestamp(stamp, UTC) if stamp > 0 else self.clock()

    async def _media(self, wamid: str, content: Content) -> InboundMedia | None:
        try:
            data, mime_type = await fetch_media(self.api, content.media_id)
        except GraphError as exc:
            if exc.handling in (Handling.TRANSIENT, Handling.PACED):
                raise UnavailableError(f"Cloud API media not fetched now: {exc.reason}") \
                    from exc
            log.warning("cloud: media %s of %s refused, reported without it: %s",
                        content.media_id, wamid, exc.reason)
            return None
        return InboundMedia(data, mime_type, content.filename)


async def fetch_media(api: GraphApi, media_id: str) -> tuple[bytes, str]:
    """(the file, its MIME type): GraphError when Meta refuses, UnavailableError when it
    cannot be reached or the file arrives damaged."""
    described = as_object(_json(await _get(api, f"{api.root}/{media_id}")))
    url = str(described.get("url", ""))
    if not url:
        raise UnavailableError(f"Cloud API named no URL for media {media_id}")
    data = (await _get(api, url)).content
    if not _matches(data, str(described.get("sha256", "")),
                    as_int(described.get("file_size"))):
        raise UnavailableError(f"media {media_id} arrived damaged (sha256 or size differ)")
    return data, str(described.get("mime_type") or "application/octet-stream")


async def _get(api: GraphApi, url: str) -> httpx.Response:
    try:
        response = await api.http.get(url, follow_redirects=True)
    except httpx.TransportError as exc:
        raise UnavailableError(f"Cloud API unreachable for media: {exc!r}") from exc
    if not response.is_success:
        raise GraphError.from_response(response)
    return response


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return {}


def _matches(data: bytes, sha256: str, size: int) -> bool:
    digest = hashlib.sha256(data).digest()
    if size and size != len(data):
        return False
    if not sha256:
        return True
    if sha256.lower() == digest.hex():
        return True
    try:
        return base64.b64decode(sha256, validate=True) == digest
    except (binascii.Error, ValueError):
        return False
