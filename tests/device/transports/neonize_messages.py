"""Messages from others as whatsmeow hands them to neonize: a `MessageEv` (Neonize.proto's
`Message`) with its `MessageInfo` and `MessageSource`, around the waE2E message itself.

Addressing as whatsmeow gives it: a direct chat in phone-number mode has the sender's
`…@s.whatsapp.net` as Chat and Sender (Sender with the sending device, e.g. `:3`), its LID
as `SenderAlt` when WhatsApp sent one; in LID mode both are `…@lid` and the number, if
any, is `SenderAlt`. A group's Chat is `…@g.us` and its Sender the participant. Media is
put on the stand-in's WhatsApp (by direct path) with its SHA-256, as an upload leaves it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from neonize.proto.Neonize_pb2 import JID, LID, PN, MessageInfo, MessageSource
from neonize.proto.Neonize_pb2 import Message as MessageEv
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    DocumentMessage,
    ImageMessage,
    Message,
    VideoMessage,
)

from tests.device.transports.neonize_standin import FakeWhatsApp

KINDS = {"image": (ImageMessage, "imageMessage"), "document": (DocumentMessage,
         "documentMessage"), "audio": (AudioMessage, "audioMessage"),
         "video": (VideoMessage, "videoMessage")}


def jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> JID:
    return JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0,
               IsEmpty=False)


def no_jid() -> JID:
    return JID(User="", Server="", Device=0, RawAgent=0, Integrator=0, IsEmpty=True)


def message_id() -> str:
    return secrets.token_hex(16).upper()  # a phone's message id


def arrived(message: Message, sender: JID, *, chat: JID | None = None,
            sender_alt: JID | None = None, from_me: bool = False, at: int = 0,
            ident: str = "", push_name: str = "Ann") -> MessageEv:
    """The event for `message` from `sender`: a direct chat unless `chat` (a group) is given."""
    group = chat is not None and chat.Server == "g.us"
    mode = LID if sender.Server == "lid" else PN
    chat = chat or jid(sender.User, sender.Server)
    source = MessageSource(Chat=chat, Sender=sender, IsFromMe=from_me, IsGroup=group,
                           AddressingMode=mode, SenderAlt=sender_alt or no_jid(),
                           RecipientAlt=no_jid(), BroadcastListOwner=no_jid())
    info = MessageInfo(MessageSource=source, ID=ident or message_id(), ServerID=0,
                       Type="media" if _is_media(message) else "text", Pushname=push_name,
                       Timestamp=at or int(time.time()), Category="", Multicast=False,
                       MediaType="", Edit="")
    return MessageEv(Info=info, Message=message, IsEphemeral=False, IsViewOnce=False,
                     IsViewOnceV2=False, IsViewOnceV2Extension=False,
                     IsDocumentWithCaption=False, IsLottieSticker=False, IsEdit=False,
                     UnavailableRequestID="", RetryCount=0, Raw=message)


def media_message(far: FakeWhatsApp, kind: str, data: bytes, mimetype: str,
                  **fields: Any) -> Message:
    """A media message whose file WhatsApp keeps, as a phone's upload leaves it."""
    shape, name = KINDS[kind]
    path = f"/v/t62.7118-24/{secrets.token_hex(8)}.enc?ccb=11-4&oh=01_{secrets.token_hex(6)}"
    far.media[path] = data
    body = shape(URL=f"https://mmg.whatsapp.net{path}", mimetype=mimetype,
                 fileSHA256=hashlib.sha256(data).digest(), fileLength=len(data),
                 mediaKey=secrets.token_bytes(32), fileEncSHA256=secrets.token_bytes(32),
                 directPath=path, mediaKeyTimestamp=int(time.time()), **fields)
    return Message(**{name: body})


def _is_media(message: Message) -> bool:
    return any(message.HasField(f) for _, f in KINDS.values())
