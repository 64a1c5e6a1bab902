"""What arrives on a whatsmeow device (neonize's `MessageEv`), read as the port's `Inbound`.

| WhatsApp message (waE2E) | Inbound type | text | also |
|---|---|---|---|
| `conversation`, `extendedTextMessage` | text | the text | |
| `imageMessage`, `stickerMessage` | image | the caption | the file |
| `documentMessage` | document | the caption | the file and its name |
| `audioMessage` (voice notes too) | audio | | the file |
| `videoMessage` | video | the caption | the file |
| `locationMessage`, `liveLocationMessage` | location | name, address | latitude, longitude |
| `contactMessage`, `contactsArrayMessage` | contact | display name | the vCard(s) |
| `reactionMessage` | reaction | the emoji (empty: taken back) | quoted = the target's id |

Anything else (protocol messages, polls, key distribution, …) is not reported. whatsmeow
hands the message already unwrapped (ephemeral, view-once, document-with-caption). The
quoted message is `contextInfo.stanzaID` of whichever part is set.

Who sent it: WhatsApp addresses a sender by phone number (`…@s.whatsapp.net`) or by LID
(`…@lid`, its privacy id); `MessageSource.SenderAlt` carries the other one when WhatsApp
gives it. What is missing is looked up in whatsmeow's own LID map (`get_pn_from_lid`,
`get_lid_from_pn`). `from_phone` is the number's digits, `from_lid` the LID as a JID
(`<digits>@lid`); a sender whose number stays unknown has an empty `from_phone`, and the
chat of a direct message is then the LID. A group message's chat is the group's JID and
its sender the participant. Messages the device sent itself (from its phone, or our own
sends echoed back), status updates and channels are not inbound.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from neonize.proto.Neonize_pb2 import JID

from kernel.media import DEFAULT_MIME
from kernel.waits import Backoff
from services.device.adapters.inbound import Content, Origin, inbound_of
from services.device.adapters.whatsmeow.events import at_time, jid_text
from services.device.app.transport import Inbound, InboundMedia, InboundType

log = logging.getLogger(__name__)

PHONE_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
IGNORED_CHATS = ("broadcast", "newsletter")  # status updates, channels
PAUSE = 0.2  # seconds before the second download attempt; twice that before the third

Download = Callable[[Any], Awaitable[bytes]]
Lookup = Callable[[JID], Awaitable[JID]]

_MEDIA = {"imageMessage": InboundType.IMAGE, "stickerMessage": InboundType.IMAGE,
          "documentMessage": InboundType.DOCUMENT, "audioMessage": InboundType.AUDIO,
          "videoMessage": InboundType.VIDEO}
_PARTS = ("conversation", "extendedTextMessage", *_MEDIA, "locationMessage",
          "liveLocationMessage", "contactMessage", "contactsArrayMessage", "reactionMessage")


@dataclass(frozen=True)
class Sender:
    phone: str  # digits, or empty when WhatsApp gave only the LID
    lid: str  # `<digits>@lid`, or empty


def part_of(message: Any) -> str | None:
    """The field of the waE2E message that says what it is; None for what is not reported."""
    for name in _PARTS:
        if name == "conversation":
            if message.conversation:
                return name
        elif message.HasField(name):
            return name
    return None


def is_inbound(event: Any) -> bool:
    source = event.Info.MessageSource
    return not source.IsFromMe and source.Chat.Server not in IGNORED_CHATS \
        and part_of(event.Message) is not None


def content_of(message: Any, part: str) -> Content:
    if part == "conversation":
        return Content(InboundType.TEXT, message.conversation)
    body = getattr(message, part)
    if part == "reactionMessage":
        return Content(InboundType.REACTION, body.text, body.key.ID)
    quoted = body.contextInfo.stanzaID if body.HasField("contextInfo") else ""
    if part == "extendedTextMessage":
        return Content(InboundType.TEXT, body.text, quoted)
    if part in _MEDIA:
        return Content(_MEDIA[part], getattr(body, "caption", ""), quoted,
                       filename=getattr(body, "fileName", ""), mime_type=body.mimetype)
    if part in ("locationMessage", "liveLocationMessage"):
        said = (getattr(body, "name", ""), getattr(body, "address", ""),
                getattr(body, "caption", ""))
        return Content(InboundType.LOCATION, ", ".join(p for p in said if p), quoted,
                       body.degreesLatitude, body.degreesLongitude)
    if part == "contactMessage":
        return Content(InboundType.CONTACT, body.displayName, quoted, vcard=body.vcard)
    return Content(InboundType.CONTACT, body.displayName, quoted,  # contactsArrayMessage
                   vcard="".join(_ending(c.vcard) for c in body.contacts))


def _ending(vcard: str) -> str:
    return vcard if vcard.endswith("\n") else vcard + "\n"


async def sender_of(source: Any, pn_of: Lookup, lid_of: Lookup) -> Sender:
    """The sender's number and LID: from the message, else from whatsmeow's LID map."""
    ids = {j.Server: j for j in (source.SenderAlt, source.Sender) if j.User}  # Sender wins
    phone, lid = ids.get(PHONE_SERVER), ids.get(LID_SERVER)
    if phone is None and lid is not None:
        phone = await _looked_up(pn_of, lid, PHONE_SERVER)
    elif lid is None and phone is not None:
        lid = await _looked_up(lid_of, phone, LID_SERVER)
    return Sender(phone.User if phone else "", f"{lid.User}@{LID_SERVER}" if lid else "")


async def _looked_up(lookup: Lookup, jid: JID, server: str) -> JID | None:
    bare = _bare(jid)
    try:
        found = await lookup(bare)
    except Exception as exc:  # the map not readable now: what the message said is kept
        log.warning("whatsmeow: LID map lookup of %s failed: %s", jid_text(bare), exc)
        return None
    return found if found.User and found.Server == server else None


async def read_inbound(device_id: str, event: Any, download: Download, pn_of: Lookup,
                       lid_of: Lookup) -> Inbound:
    """The port's Inbound for a neonize `MessageEv` that `is_inbound`."""
    info, message = event.Info, event.Message
    part = part_of(message)
    assert part is not None
    content = content_of(message, part)
    sender = await sender_of(info.MessageSource, pn_of, lid_of)
    source = info.MessageSource
    if source.IsGroup:
        chat_id = jid_text(_bare(source.Chat))
    else:
        chat_id = sender.phone or sender.lid or jid_text(_bare(source.Chat))
    origin = Origin(device_id, info.ID, sender.phone, sender.lid, chat_id, source.IsGroup,
                    at_time(info.Timestamp), info.Pushname)
    media = await _media(device_id, info.ID, message, content, download) \
        if part in _MEDIA else None
    return inbound_of(origin, content, media)


def _bare(jid: JID) -> JID:
    return JID(User=jid.User, Server=jid.Server, Device=0, RawAgent=0, Integrator=0,
               IsEmpty=False)


async def _media(device_id: str, message_id: str, message: Any, content: Content,
                 download: Download, attempts: int = 3) -> InboundMedia | None:
    """The file through neonize's download, tried again after a short pause; after
    `attempts` failures the message is reported without it (its caption still arrives)
    rather than lost."""
    backoff = Backoff(first=PAUSE)
    for attempt in range(1, attempts + 1):
        try:
            data = await download(message)
        except Exception as exc:
            log.warning("whatsmeow %s: media of %s not downloaded (attempt %d of %d): %s",
                        device_id, message_id, attempt, attempts, exc)
            if attempt < attempts:
                await backoff.pause()
            continue
        return InboundMedia(bytes(data), content.mime_type or DEFAULT_MIME, content.filename)
    return None
