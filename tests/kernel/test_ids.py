"""Time-ordered ids: well-formed, unique, and sorted by when they were made."""

from __future__ import annotations

import re
import time
import uuid

from kernel.eventstore import NewEvent
from kernel.ids import time_ordered_hex, uuid7
from services.messaging.domain.model import new_message_id


def test_a_uuid7_is_a_version_7_uuid_that_starts_with_the_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid7()
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(made)
    assert str(parsed) == made and parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert before <= parsed.int >> 80 <= after


def test_ids_made_later_sort_after_and_none_repeat() -> None:
    for make in (uuid7, lambda: time_ordered_hex(24), new_message_id,
                 lambda: NewEvent("E", b"").event_id):
        first = [make() for _ in range(2000)]
        time.sleep(0.002)
        later = make()
        assert len(set(first)) == len(first)
        assert all(earlier < later for earlier in first)


def test_time_ordered_hex_has_the_digits_asked_for() -> None:
    for digits in (16, 17, 24, 32):
        assert re.fullmatch(f"[0-9a-f]{{{digits}}}", time_ordered_hex(digits))
    assert re.fullmatch(r"msg_[0-9a-f]{24}", new_message_id())
