"""kernel/codec.py: events through the services' own codecs and back, every kind of field
a protobuf message carries (text, numbers, flags, floats, times, repeated, nested, unset)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from services.billing.adapters.codec import billing_codec
from services.billing.domain.events import CreditsReleased
from services.device.adapters.codec import device_codec
from services.device.domain.events import DeviceRegistered, MediaRef, MessageReceived
from services.messaging.adapters.codec import messaging_codec
from services.messaging.domain.events import Media, MessageQueued

AT = datetime(2026, 12, 5, 21, 30, 15, 123456, tzinfo=UTC)


def round_trip(codec, event):
    stored = codec.encode(event)
    return codec.decode_payload(stored.event_type, stored.payload)


def test_text_numbers_times_and_a_nested_message_come_back_equal() -> None:
    queued = MessageQueued("msg_1", 2**40, "27821234567", "héllo 👋", "pool", "", AT,
                           media=Media("ab" * 32, "image/png", 1234, "a.png", "image"),
                           bulk_job_id="bulk_1")
    assert round_trip(messaging_codec(), queued) == queued
    plain = MessageQueued("msg_2", 7, "27821234567", "hi", "instance", "inst_1", AT)
    assert round_trip(messaging_codec(), plain) == plain  # media unset stays None


def test_a_repeated_field_comes_back_as_a_tuple() -> None:
    released = CreditsReleased(9, ("m1", "m2", "m3"), 3, "failed", spent=1)
    assert round_trip(billing_codec(), released) == released


def test_flags_floats_unset_times_and_a_time_in_another_zone() -> None:
    registered = DeviceRegistered("dev_1", "Phone", 3, True, "simulator", 2,
                                  AT.astimezone(timezone(timedelta(hours=2))))
    back = round_trip(device_codec(), registered)
    assert back == registered and back.created_at.utcoffset() == timedelta(0)
    unset = DeviceRegistered("dev_2", "Other", 4, False, "whatsmeow")
    assert round_trip(device_codec(), unset) == unset
    received = MessageReceived(
        "in_1", "dev_1", "wamid.1", "27821234567", "27829876543", "27821234567@s.whatsapp.net",
        "location", 3, AT, None, is_group=False, latitude=-33.918861, longitude=18.4233,
        media=MediaRef("cd" * 32, "image/jpeg", 99, "photo.jpg"))
    assert round_trip(device_codec(), received) == received
