"""Unit tests (no I/O): what each event contributes to the history view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from kernel.bus import Envelope
from services.messaging.adapters.codec import messaging_codec
from services.messaging.adapters.history_projection import device_fact, queued_fact
from services.messaging.domain.events import MessageQueued
from services.messaging.domain.lifecycle import HistoryEntry, Status, queued_entry
from switchboard.device.v1 import events_pb2 as device_pb

RECORDED = datetime(2025, 6, 3, 10, 30, 0, 123456, tzinfo=UTC)


def envelope(service: str, event_type: str, payload: bytes) -> Envelope:
    return Envelope(service, "e1", event_type, "s-1", 1, payload, "", "", RECORDED, 1)


def test_projected_queued_fact_is_the_inline_one() -> None:
    event = MessageQueued("msg_1", 7, "27821234567", "hi", "pool", "",
                          RECORDED - timedelta(microseconds=1))
    new = messaging_codec().encode(event)
    assert queued_fact(envelope("messaging", new.event_type, new.payload)) == queued_entry(event)


def test_device_receipts_use_their_own_time_else_the_recorded_one() -> None:
    at = Timestamp()
    at.FromDatetime(RECORDED - timedelta(seconds=3))
    read = device_pb.MessageRead(message_id="msg_1", read_at=at, user_id=7)
    failed = device_pb.MessageFailed(message_id="msg_1", reason="banned", user_id=7)
    assert device_fact(envelope("device", "MessageRead", read.SerializeToString())) == \
        HistoryEntry("msg_1", Status.READ, RECORDED - timedelta(seconds=3), user_id=7)
    assert device_fact(envelope("device", "MessageFailed", failed.SerializeToString())) == \
        HistoryEntry("msg_1", Status.FAILED, RECORDED, user_id=7, error_message="banned")
