"""WhatsApp's side of the simulator: linked sessions, pending QR pairings and every
recipient's inbox, in a SQLite file so that it outlives a device-service process (a
crash must not make the far side forget what it received) and is shared by replicas on
one machine. ":memory:" keeps it in the process, for unit tests.

Like WhatsApp, an inbox keeps a message once per transport message id, and receipts
not yet reported are kept for the session, so that a replica taking a device over after
another died reports them. An outage, set from any process sharing the file, makes the
far side misbehave for every sender until it ends: refuse sends, leave them unanswered,
or cut the connection after keeping the message but before acknowledging it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from services.device.adapters.simulator.phones import IncomingQueue
from services.device.domain.errors import InvalidPairingRefError

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    device_id TEXT PRIMARY KEY, phone TEXT NOT NULL, offline_until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pairings (
    ref TEXT PRIMARY KEY, device_id TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pair_codes (
    code TEXT PRIMARY KEY, device_id TEXT NOT NULL UNIQUE, phone TEXT NOT NULL,
    expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL, tmid TEXT NOT NULL,
    from_number TEXT NOT NULL, body TEXT NOT NULL, device_id TEXT NOT NULL,
    received_at REAL NOT NULL, UNIQUE (recipient, tmid));
CREATE TABLE IF NOT EXISTS inbox_media (
    recipient TEXT NOT NULL, tmid TEXT NOT NULL, sha256 TEXT NOT NULL, kind TEXT NOT NULL,
    mime_type TEXT NOT NULL, size INTEGER NOT NULL, filename TEXT NOT NULL,
    PRIMARY KEY (recipient, tmid));
CREATE TABLE IF NOT EXISTS outage (
    id INTEGER PRIMARY KEY CHECK (id = 1), kind TEXT NOT NULL, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS receipts (
    device_id TEXT NOT NULL, tmid TEXT NOT NULL, kind TEXT NOT NULL, due_at REAL NOT NULL,
    PRIMARY KEY (device_id, tmid, kind));
"""


class Outage(StrEnum):
    UNAVAILABLE = "unavailable"  # every send refused at once; nothing kept
    SILENT = "silent"  # sends are never answered while it lasts; nothing kept
    CUT = "cut"  # the message is kept, then the connection drops before the ack


@dataclass(frozen=True)
class InboxMedia:
    """A media message's file as the phone received it: `sha256` of the bytes it got."""

    sha256: str
    kind: str
    mime_type: str
    size: int
    filename: str


@dataclass(frozen=True)
class InboxMessage:
    transport_message_id: str
    from_number: str
    body: str
    device_id: str
    received_at: datetime
    media: InboxMedia | None = None


@dataclass(frozen=True)
class FarSession:
    phone_number: str
    offline_until: float

    def online_at(self, now: datetime) -> bool:
        return now.timestamp() >= self.offline_until


class SimulatedWhatsApp:
    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        self._db.execute("PRAGMA busy_timeout=30000")
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.incoming = IncomingQueue(self._db)

    # Pairing

    def has_pairing(self, device_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM pairings WHERE device_id = ?", (device_id,))
        return row.fetchone() is not None

    def replace_pairing(self, device_id: str, ref: str, expires_at: datetime) -> None:
        """The new QR works; the ones before it for this device stop working."""
        with self._transaction():
            self._db.execute("DELETE FROM pairings WHERE device_id = ?", (device_id,))
            self._db.execute("INSERT INTO pairings VALUES (?, ?, ?)",
                             (ref, device_id, expires_at.timestamp()))

    def pairing_device(self, ref: str, now: datetime) -> str:
        row = self._db.execute("SELECT device_id, expires_at FROM pairings WHERE ref = ?",
                               (ref,)).fetchone()
        if row is None:
            raise InvalidPairingRefError("unknown, replaced or already used QR code")
        if now.timestamp() > row[1]:
            raise InvalidPairingRefError("the QR code has expired")
        return str(row[0])

    def clear_pairings(self, device_id: str) -> None:
        self._db.execute("DELETE FROM pairings WHERE device_id = ?", (device_id,))
        self._db.execute("DELETE FROM pair_codes WHERE device_id = ?", (device_id,))

    def replace_pair_code(self, device_id: str, code: str, phone: str,
                          expires_at: datetime) -> None:
        """The device's pairing code for `phone`; the one before it stops working."""
        self._db.execute("INSERT OR REPLACE INTO pair_codes VALUES (?, ?, ?, ?)",
                         (code, device_id, phone, expires_at.timestamp()))

    def pair_code_device(self, code: str, phone: str, now: datetime) -> str:
        """The device a phone links by typing `code`: the code must be live and issued
        for that phone's number."""
        row = self._db.execute("SELECT device_id, phone, expires_at FROM pair_codes"
                               " WHERE code = ?", (code,)).fetchone()
        if row is None:
            raise InvalidPairingRefError("unknown, replaced or already used pairing code")
        if now.timestamp() > row[2]:
            raise InvalidPairingRefError("the pairing code has expired")
        if row[1] != phone:
            raise InvalidPairingRefError("the pairing code was issued for another number")
        return str(row[0])

    # Sessions

    def link(self, device_id: str, phone_number: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, 0)",
                         (device_id, phone_number))

    def unlink(self, device_id: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE device_id = ?", (device_id,))

    def session(self, device_id: str) -> FarSession | None:
        row = self._db.execute("SELECT phone, offline_until FROM sessions WHERE device_id = ?",
                               (device_id,)).fetchone()
        return FarSession(row[0], row[1]) if row else None

    def sending(self, device_id: str, now: datetime) -> tuple[FarSession | None,
                                                               tuple[Outage, datetime] | None]:
        """The device's session and the outage going on at `now`, in one look-up: what
        a send asks first."""
        row = self._db.execute(
            "SELECT s.phone, s.offline_until, o.kind, o.until FROM (SELECT 1)"
            " LEFT JOIN sessions s ON s.device_id = ? LEFT JOIN outage o ON o.id = 1",
            (device_id,)).fetchone()
        session = None if row[0] is None else FarSession(row[0], row[1])
        return session, _going_on(row[2], row[3], now)

    def device_for(self, phone: str) -> str | None:
        """The device linked to this number (the last one linked, if several were)."""
        row = self._db.execute("SELECT device_id FROM sessions WHERE phone = ?"
                               " ORDER BY rowid DESC", (phone,)).fetchone()
        return str(row[0]) if row else None

    def set_offline(self, device_id: str, until: datetime) -> None:
        self._db.execute("UPDATE sessions SET offline_until = ? WHERE device_id = ?",
                         (until.timestamp(), device_id))

    # Outages

    def begin_outage(self, kind: Outage, until: datetime) -> None:
        self._db.execute("INSERT OR REPLACE INTO outage VALUES (1, ?, ?)",
                         (kind.value, until.timestamp()))

    def end_outage(self) -> None:
        self._db.execute("DELETE FROM outage")

    def outage(self, now: datetime) -> tuple[Outage, datetime] | None:
        """The outage going on at `now`, and when it ends."""
        row = self._db.execute("SELECT kind, until FROM outage").fetchone()
        return None if row is None else _going_on(row[0], row[1], now)

    # Inboxes

    def deliver(self, recipient: str, message: InboxMessage,
                receipts: list[tuple[str, datetime]] | None = None) -> bool:
        """Keep the message unless this recipient already has its transport id, and owe
        the sending session `receipts` for it, in one transaction."""
        with self._transaction():
            if (media := message.media) is not None:  # the message shows with its file
                self._db.execute(
                    "INSERT OR IGNORE INTO inbox_media VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (recipient, message.transport_message_id, media.sha256, media.kind,
                     media.mime_type, media.size, media.filename))
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO inbox (recipient, tmid, from_number, body, device_id,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?)",
                (recipient, message.transport_message_id, message.from_number, message.body,
                 message.device_id, message.received_at.timestamp()))
            if receipts:
                self.owe_receipts(message.device_id, message.transport_message_id, receipts)
        return cursor.rowcount == 1

    def inbox(self, recipient: str) -> list[InboxMessage]:
        rows = self._db.execute(
            "SELECT i.tmid, from_number, body, device_id, received_at, sha256, kind,"
            " mime_type, size, filename FROM inbox i LEFT JOIN inbox_media m"
            " ON m.recipient = i.recipient AND m.tmid = i.tmid"
            " WHERE i.recipient = ? ORDER BY seq", (recipient,)).fetchall()
        return [InboxMessage(r[0], r[1], r[2], r[3], datetime.fromtimestamp(r[4], UTC),
                             None if r[5] is None else InboxMedia(*r[5:]))
                for r in rows]

    # Receipts owed to a session: kept until its client has them, whichever process
    # holds the session by then (WhatsApp queues them for a client that is away).

    def owe_receipts(self, device_id: str, tmid: str,
                     receipts: list[tuple[str, datetime]]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO receipts VALUES (?, ?, ?, ?)",
                             [(device_id, tmid, kind, due.timestamp())
                              for kind, due in receipts])

    def settle_receipts(self, settled: list[tuple[str, str, str]]) -> None:
        """(device id, transport message id, kind) of receipts the clients have, at once."""
        with self._transaction():
            self._db.executemany(
                "DELETE FROM receipts WHERE device_id = ? AND tmid = ? AND kind = ?", settled)

    def owed_receipts(self, device_id: str) -> list[tuple[str, str, datetime]]:
        """(transport message id, kind, when due) of the session's undelivered receipts."""
        rows = self._db.execute("SELECT tmid, kind, due_at FROM receipts WHERE device_id = ?"
                                " ORDER BY due_at", (device_id,)).fetchall()
        return [(r[0], r[1], datetime.fromtimestamp(r[2], UTC)) for r in rows]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def _going_on(kind: str | None, until: float | None,
              now: datetime) -> tuple[Outage, datetime] | None:
    """An outage row's kind and end, if it is still going on at `now`."""
    if kind is None or until is None or now.timestamp() >= until:
        return None
    return Outage(kind), datetime.fromtimestamp(until, UTC)
