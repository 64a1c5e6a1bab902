"""Unit tests (no I/O): the status lattice behind the history view."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from functools import reduce

from services.messaging.domain.lifecycle import HistoryEntry, Status

T0 = datetime(2025, 6, 3, 10, 30, tzinfo=UTC)
QID = "msg_0123456789abcdef01234567"


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


QUEUED = HistoryEntry(QID, Status.QUEUED, at(0), user_id=7, number="27821234567",
                      message="hi", created_at=at(0))
SENDING = HistoryEntry(QID, Status.SENDING, at(1), user_id=7)
SENT = HistoryEntry(QID, Status.SENT, at(2), user_id=7)
DELIVERED = HistoryEntry(QID, Status.DELIVERED, at(3), user_id=7)
READ = HistoryEntry(QID, Status.READ, at(4), user_id=7)
FAILED = HistoryEntry(QID, Status.FAILED, at(2), user_id=7, error_message="banned")


def fold(entries: tuple[HistoryEntry, ...]) -> HistoryEntry:
    return reduce(HistoryEntry.merge, entries)


def test_any_order_gives_the_same_entry() -> None:
    facts = (QUEUED, SENDING, SENT, DELIVERED, READ)
    results = {fold(order) for order in itertools.permutations(facts)}
    assert results == {HistoryEntry(QID, Status.READ, at(4), user_id=7,
                                    number="27821234567", message="hi", created_at=at(0))}


def test_duplicates_change_nothing() -> None:
    once = fold((QUEUED, SENT))
    assert fold((QUEUED, SENT, SENT, QUEUED, SENT)) == once
    assert once.merge(once) == once


def test_status_never_goes_back() -> None:
    assert READ.merge(SENT).status is Status.READ
    assert fold((QUEUED, DELIVERED, SENDING)).status is Status.DELIVERED


def test_failed_is_terminal_and_keeps_its_reason() -> None:
    for order in itertools.permutations((QUEUED, SENT, FAILED, READ)):
        entry = fold(order)
        assert (entry.status, entry.error_message) == (Status.FAILED, "banned")
        assert entry.number == "27821234567"


def test_updated_at_is_when_the_current_status_was_reached() -> None:
    late_sending = HistoryEntry(QID, Status.SENDING, at(60), user_id=7)
    assert fold((QUEUED, SENT, late_sending)).updated_at == at(2)


def test_device_events_before_queued_fill_in_later() -> None:
    early = SENT.merge(HistoryEntry(QID, Status.SENDING, at(1)))
    assert (early.number, early.created_at, early.user_id) == (None, None, 7)
    assert early.merge(QUEUED) == fold((QUEUED, SENDING, SENT))


def test_complete_and_error_flags() -> None:
    assert [s.is_complete for s in Status] == [False, False, True, True, True, True]
    assert [s.is_error for s in Status] == [False] * 5 + [True]
    assert [s.label for s in Status] == ["queued", "sending", "sent", "delivered", "read",
                                         "failed"]
    assert all(Status.of(s.label) is s for s in Status)


def test_a_merge_is_the_further_status_and_every_field_known() -> None:
    """Field by field, for every pair of a mixed set (the merge hands back one of the two
    when the other adds nothing to it): status and time of the further step, the self's
    on a tie; the larger user id, texts and the earliest creation, where known."""
    entries = [QUEUED, SENDING, SENT, DELIVERED, READ, FAILED,
               HistoryEntry(QID, Status.SENT, at(2), user_id=9),
               HistoryEntry(QID, Status.FAILED, at(5), user_id=0, error_message="expired"),
               HistoryEntry(QID, Status.QUEUED, at(-1), number="2782", message="hey",
                            created_at=at(-1))]
    for a, b in itertools.product(entries, repeat=2):
        top = max(a, b, key=lambda e: (e.status.value, e.updated_at))
        expected = HistoryEntry(
            QID, top.status, top.updated_at, max(a.user_id, b.user_id),
            *(max(x, y) if x and y else x or y for x, y in [
                (a.number, b.number), (a.message, b.message),
                (a.error_message, b.error_message)]),
            min(a.created_at, b.created_at) if a.created_at and b.created_at
            else a.created_at or b.created_at)
        assert a.merge(b) == expected, (a, b)
