"""What an Idempotency-Key record decides: a new claim, a replay, a mismatch, or wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

KEEP_FOR = timedelta(hours=24)
# A claim whose request never finished (its gateway died) may be taken over after this.
ABANDONED_AFTER = timedelta(seconds=60)
PENDING, DONE = "pending", "done"


class Outcome(Enum):
    NEW = 1
    REPLAY = 2
    MISMATCH = 3
    IN_PROGRESS = 4


@dataclass(frozen=True)
class KeyRecord:
    fingerprint: str
    state: str
    status_code: int
    body: bytes
    created_at: datetime


def decide(record: KeyRecord | None, fingerprint: str, now: datetime) -> Outcome:
    """The claim's outcome given the key's record (None: never used, or expired)."""
    if record is None or expired(record, now):
        return Outcome.NEW
    if record.fingerprint != fingerprint:
        return Outcome.MISMATCH
    if record.state == DONE:
        return Outcome.REPLAY
    if now - record.created_at > ABANDONED_AFTER:
        return Outcome.NEW
    return Outcome.IN_PROGRESS


def expired(record: KeyRecord, now: datetime) -> bool:
    return now - record.created_at > KEEP_FOR
