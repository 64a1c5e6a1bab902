"""Messages simulated phones send to linked devices (replies, unsolicited messages,
group messages), kept by the far side until the device has recorded them.

Like WhatsApp's servers, the far side holds a message for a device whose session is not
up (a restart, a reconnect, a replica that died) and hands it over when the session is
taken up again; it forgets a message only once the device's sink returned for it
(`MessageReceived` committed), so a crash in between hands it over again and the
device's dedup (its stream per transport message id) records it once. A message id the
phone gives twice (a client's retry) is kept once."""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from services.device.app.transport import Inbound, InboundMedia, InboundType, digits
from services.device.domain.commands import SimulateInbound

SCHEMA = """
CREATE TABLE IF NOT EXISTS incoming (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, tmid TEXT NOT NULL,
    message TEXT NOT NULL, media BLOB, handed_over INTEGER NOT NULL DEFAULT 0,
    UNIQUE (device_id, tmid));
"""


@dataclass(frozen=True)
class PhoneMessage:
    """What a phone sends: `group_id` set for a group message; `quoted` the far side's
    id of the message it answers."""

    transport_message_id: str
    from_phone: str
    type: str
    sent_at: float
    text: str = ""
    group_id: str = ""
    quoted: str = ""
    mime_type: str = ""
    filename: str = ""

    def inbound(self, device_id: str, media: bytes | None) -> Inbound:
        return Inbound(
            device_id=device_id, transport_message_id=self.transport_message_id,
            from_phone=self.from_phone, chat_id=self.group_id or self.from_phone,
            type=InboundType(self.type), sent_at=datetime.fromtimestamp(self.sent_at, UTC),
            text=self.text, is_group=bool(self.group_id), quoted=self.quoted,
            media=None if media is None else InboundMedia(media, self.mime_type,
                                                          self.filename))


def media_type(mime_type: str) -> InboundType:
    """What WhatsApp calls a file of this MIME type."""
    kind = mime_type.split("/", 1)[0]
    known = {"image": InboundType.IMAGE, "video": InboundType.VIDEO,
             "audio": InboundType.AUDIO}
    return known.get(kind, InboundType.DOCUMENT)


def phone_message(cmd: SimulateInbound, now: datetime) -> PhoneMessage:
    kind = InboundType.TEXT if cmd.media is None else media_type(cmd.mime_type)
    return PhoneMessage(
        transport_message_id=cmd.message_id or "sim-in-" + secrets.token_hex(10),
        from_phone=digits(cmd.from_phone), type=str(kind), sent_at=now.timestamp(),
        text=cmd.text, group_id=cmd.group_id, quoted=cmd.quoted,
        mime_type=cmd.mime_type, filename=cmd.filename)


class IncomingQueue:
    """The far side's messages for devices, in the far side's SQLite file."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        db.executescript(SCHEMA)

    def add(self, device_id: str, message: PhoneMessage, media: bytes | None) -> bool:
        """Keeps the message; False when the phone had sent this id already."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO incoming (device_id, tmid, message, media)"
            " VALUES (?, ?, ?, ?)",
            (device_id, message.transport_message_id, json.dumps(asdict(message)), media))
        return cur.rowcount == 1

    def waiting(self, device_id: str) -> list[tuple[PhoneMessage, bytes | None]]:
        """What the device has not recorded yet, in the order it was sent."""
        rows = self._db.execute("SELECT message, media FROM incoming WHERE device_id = ?"
                                " AND handed_over = 0 ORDER BY seq", (device_id,))
        return [(PhoneMessage(**json.loads(m)), media) for m, media in rows]

    def handed_over(self, device_id: str, tmid: str) -> None:
        self._db.execute("UPDATE incoming SET handed_over = 1, media = NULL"
                         " WHERE device_id = ? AND tmid = ?", (device_id, tmid))
