"""What an Idempotency-Key record decides, over time (domain only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.messaging.domain.idempotency import DONE, PENDING, KeyRecord, Outcome, decide

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(state: str, fingerprint: str = "f") -> KeyRecord:
    return KeyRecord(fingerprint, state, 200, b"{}", T0)


def test_a_finished_key_replays_for_24_hours_then_is_new() -> None:
    assert decide(record(DONE), "f", T0 + timedelta(hours=23)) is Outcome.REPLAY
    assert decide(record(DONE), "f", T0 + timedelta(hours=25)) is Outcome.NEW
    assert decide(None, "f", T0) is Outcome.NEW


def test_another_request_under_the_key_is_a_mismatch() -> None:
    assert decide(record(DONE), "g", T0) is Outcome.MISMATCH
    assert decide(record(PENDING), "g", T0) is Outcome.MISMATCH


def test_a_running_claim_blocks_until_abandoned() -> None:
    assert decide(record(PENDING), "f", T0 + timedelta(seconds=5)) is Outcome.IN_PROGRESS
    assert decide(record(PENDING), "f", T0 + timedelta(minutes=2)) is Outcome.NEW
