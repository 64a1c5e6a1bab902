"""The one clock and time conversions (kernel/clock.py): aware UTC out of every path,
naive taken as UTC (never the host's zone), protobuf Timestamps that keep the moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from kernel.clock import as_utc, from_timestamp, set_timestamp, to_timestamp, utcnow

PLUS_TWO = timezone(timedelta(hours=2))


def test_the_clock_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    now = utcnow()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)


def test_naive_is_taken_as_utc_and_aware_keeps_its_moment() -> None:
    naive = datetime(2024, 2, 29, 23, 59, 58, 123456)
    assert as_utc(naive) == naive.replace(tzinfo=UTC)
    assert as_utc(naive).tzinfo is UTC
    local = datetime(2024, 3, 1, 1, 59, 58, tzinfo=PLUS_TWO)
    assert as_utc(local) == datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)
    assert as_utc(local).tzinfo is UTC
    assert as_utc(None) is None


def test_timestamps_keep_the_moment_to_the_microsecond() -> None:
    moment = datetime(2024, 3, 1, 1, 59, 58, 123456, tzinfo=PLUS_TWO)
    stamp = to_timestamp(moment)
    assert isinstance(stamp, Timestamp)
    assert (stamp.seconds, stamp.nanos) == (1709251198, 123456000)
    assert from_timestamp(stamp) == moment
    assert from_timestamp(stamp).tzinfo is UTC
    assert to_timestamp(moment.astimezone(UTC).replace(tzinfo=None)) == stamp
    assert to_timestamp(None) is None


def test_a_timestamp_reads_as_protobuf_reads_it_across_its_range() -> None:
    """from_timestamp does protobuf's ToDatetime by hand: the same moment and zone from the
    first second of year 1 to the last of 9999, nanoseconds cut toward zero."""
    for seconds, nanos in [(-62135596800, 0), (-1, 999_999_999), (0, 0), (0, 999),
                           (1709251198, 123456789), (253402300799, 999_999_999)]:
        stamp = Timestamp(seconds=seconds, nanos=nanos)
        moment = from_timestamp(stamp)
        assert moment == stamp.ToDatetime(tzinfo=UTC)
        assert moment.tzinfo is UTC


def test_a_moment_goes_into_a_timestamp_as_protobuf_puts_it_across_its_range() -> None:
    """set_timestamp does protobuf's FromDatetime by hand: the same seconds and nanos from
    the first microsecond of year 1 to the last of 9999, before 1970 too, in any zone."""
    for moment in [datetime(1, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999999),
                   datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, 0, 0, 0, 1),
                   datetime(2024, 3, 1, 1, 59, 58, 123456, tzinfo=PLUS_TWO),
                   datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                   datetime(1, 1, 1, 2, 0, tzinfo=PLUS_TWO)]:
        ours, theirs = Timestamp(), Timestamp()
        set_timestamp(ours, moment)
        theirs.FromDatetime(as_utc(moment))
        assert (ours.seconds, ours.nanos) == (theirs.seconds, theirs.nanos), moment
        assert from_timestamp(ours) == as_utc(moment)


def test_an_invalid_timestamp_is_refused_as_protobuf_refuses_it() -> None:
    for seconds, nanos in [(-62135596801, 0), (253402300800, 0), (0, -1), (0, 10**9)]:
        with pytest.raises(ValueError):
            from_timestamp(Timestamp(seconds=seconds, nanos=nanos))
