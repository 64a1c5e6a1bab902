"""Unit tests (no I/O): recipient numbers, message bodies, the Message aggregate."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from kernel.eventstore import StoredEvent
from services.messaging.adapters.codec import messaging_codec
from services.messaging.domain import rules
from services.messaging.domain.errors import (
    InvalidMessageBodyError,
    InvalidNumberError,
    MessageAlreadyQueuedError,
    MessagingError,
)
from services.messaging.domain.events import MessageQueued
from services.messaging.domain.lifecycle import Status
from services.messaging.domain.model import Message, new_message_id

NOW = datetime(2025, 6, 3, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize("raw, digits", [
    ("27821234567", "27821234567"),
    ("+27821234567", "27821234567"),
    (" 27821234567 ", "27821234567"),
    ("14155552671", "14155552671"),
    ("+447911123456", "447911123456"),
])
def test_valid_numbers_become_e164_digits(raw: str, digits: str) -> None:
    assert rules.recipient_number(raw) == digits


@pytest.mark.parametrize("raw", [
    "", "+", "abc", "0821234567", "27123", "999123456789", "278212345678901234",
    "27 82 123 4567", "27-821-234-567", "++27821234567", "١٢٣٤٥٦٧٨٩٠١", "27821234567x",
])
def test_invalid_numbers_are_invalid_requests_naming_the_number(raw: str) -> None:
    with pytest.raises(InvalidNumberError) as caught:
        rules.recipient_number(raw)
    assert caught.value.code == "INVALID_REQUEST"
    assert repr(raw[:40]) in caught.value.message


def test_body_of_4096_characters_is_accepted() -> None:
    assert rules.message_body("é" * 4096) == "é" * 4096


@pytest.mark.parametrize("body", ["a" * 4097, "", "   \n"])
def test_body_too_long_or_empty_is_an_invalid_request(body: str) -> None:
    with pytest.raises(InvalidMessageBodyError) as caught:
        rules.message_body(body)
    assert caught.value.code == "INVALID_REQUEST"


def test_errors_are_one_family() -> None:
    for cls in (InvalidNumberError, InvalidMessageBodyError, MessageAlreadyQueuedError):
        assert issubclass(cls, MessagingError)


def test_message_ids_are_msg_and_24_hex_digits() -> None:
    ids = {new_message_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"msg_[0-9a-f]{24}", i) for i in ids)


def test_queueing_records_message_queued_with_normalised_number() -> None:
    message = Message("msg_1")
    message.queue(7, "+27821234567", "hi", NOW)
    assert message.pending == [
        MessageQueued("msg_1", 7, "27821234567", "hi", "pool", "", NOW)]
    assert (message.status, message.version) == (Status.QUEUED, 1)


def test_a_message_is_queued_once() -> None:
    message = Message.rebuild("msg_1", [MessageQueued("msg_1", 7, "27821234567", "hi",
                                                      "pool", "", NOW)])
    with pytest.raises(MessageAlreadyQueuedError):
        message.queue(7, "27821234567", "again", NOW)


def test_bad_input_records_nothing() -> None:
    message = Message("msg_1")
    with pytest.raises(InvalidMessageBodyError):
        message.queue(7, "27821234567", "x" * 4097, NOW)
    assert message.pending == [] and message.version == 0


def test_codec_round_trips_message_queued() -> None:
    codec = messaging_codec()
    event = MessageQueued("msg_1", 7, "27821234567", "hi", "pool", "", NOW)
    new = codec.encode(event)
    stored = StoredEvent(1, new.event_id, "message-msg_1", 1, new.event_type, new.payload,
                         {}, NOW)
    assert new.event_type == "MessageQueued"
    assert codec.decode(stored) == event
