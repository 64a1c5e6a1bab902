"""Time, one way for every service: the UTC clock, stored times read back as UTC, and
datetimes to and from protobuf Timestamps.

Every time the system keeps is an aware UTC datetime. A database may hand one back
naive (SQLite keeps no zone); naive here always means UTC, never the host's zone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import overload

from google.protobuf.timestamp_pb2 import Timestamp

Clock = Callable[[], datetime]  # what a part that is handed its clock takes: utcnow or a test's


def utcnow() -> datetime:
    """Now, aware, in UTC: the default clock handlers and adapters take."""
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...


@overload
def as_utc(value: None) -> None: ...


def as_utc(value: datetime | None) -> datetime | None:
    """The same moment as an aware UTC datetime; a naive one is taken to be UTC."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_timestamp(value: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp of the moment (None stays None: the field is left unset)."""
    if value is None:
        return None
    stamp = Timestamp()
    set_timestamp(stamp, value)
    return stamp


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def set_timestamp(stamp: Timestamp, value: datetime) -> None:
    """The moment into `stamp`: protobuf's `FromDatetime` by hand, the same seconds and
    nanos (0.3 µs instead of 1.8: every event stored holds one or two)."""
    since = as_utc(value) - EPOCH
    stamp.seconds = since.days * 86_400 + since.seconds
    stamp.nanos = since.microseconds * 1000


FIRST, LAST = -62135596800, 253402300799  # the seconds a Timestamp may hold: years 1-9999


def from_timestamp(stamp: Timestamp) -> datetime:
    """The Timestamp's moment as an aware UTC datetime: protobuf's `ToDatetime(tzinfo=UTC)`
    by hand, without its zone conversion (1.0 µs instead of 1.9: a rebuild of the history
    reads one or two per event); an invalid stamp goes to it, to be refused as there."""
    seconds, nanos = stamp.seconds, stamp.nanos
    if FIRST <= seconds <= LAST and 0 <= nanos < 1_000_000_000:
        return EPOCH + timedelta(0, seconds, nanos // 1000)  # positional: cheaper
    return stamp.ToDatetime(tzinfo=UTC)
