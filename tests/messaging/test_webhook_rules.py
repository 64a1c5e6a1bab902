"""Webhook domain rules: URL validation, secrets, signature, body, backoff, ownership."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from services.messaging.domain.lifecycle import HistoryEntry, Status
from services.messaging.domain.webhook import (
    Backoff,
    InvalidWebhookError,
    Webhook,
    WebhookNotFoundError,
    signature,
    status_body,
    webhook_url,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("url", ["ftp://x.example/h", "example.com/hook", "http://",
                                 "", "https://x.example/" + "a" * 2048, "javascript:alert(1)"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidWebhookError):
        webhook_url(url)


def test_good_url_is_kept() -> None:
    assert webhook_url(" https://hooks.example:8443/sb?x=1 ") == \
        "https://hooks.example:8443/sb?x=1"


def test_register_generates_a_secret_when_none_is_given() -> None:
    hook = Webhook("whk_1")
    hook.register(7, "http://127.0.0.1:9/h", "", NOW)
    other = Webhook("whk_2")
    other.register(7, "http://127.0.0.1:9/h", "", NOW)
    first, second = hook.pending[0].secret, other.pending[0].secret
    assert first.startswith("whsec_") and len(first) > 30 and first != second


def test_only_the_owner_removes_and_only_once() -> None:
    hook = Webhook("whk_1")
    hook.register(7, "http://127.0.0.1:9/h", "s", NOW)
    with pytest.raises(WebhookNotFoundError):
        hook.remove(8, NOW)
    hook.remove(7, NOW)
    with pytest.raises(WebhookNotFoundError):
        hook.remove(7, NOW)


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert signature("k", body) == f"sha256={expected}"
    assert signature("k2", body) != signature("k", body)


def test_status_body_uses_the_api_words() -> None:
    entry = HistoryEntry(queue_id="msg_1", status=Status.FAILED, updated_at=NOW,
                         user_id=7, error_message="banned")
    doc = json.loads(status_body(entry, "27821234567"))
    assert doc == {"event": "message.status", "queue_id": "msg_1",
                   "number": "27821234567", "status": "Failed", "error_message": "banned",
                   "timestamp": "2026-01-02T03:04:05.000000Z"}


def test_backoff_doubles_to_its_cap_with_jitter_and_gives_up() -> None:
    backoff = Backoff(base=timedelta(seconds=1), cap=timedelta(hours=1), jitter=0.2,
                      give_up_after=timedelta(hours=24))
    for attempts, raw in [(1, 1), (2, 2), (5, 16), (13, 3600), (60, 3600)]:
        delay = backoff.delay(attempts).total_seconds()
        assert raw <= delay <= raw * 1.2
    assert backoff.next_attempt(NOW, 3, NOW + timedelta(hours=23)) is not None
    assert backoff.next_attempt(NOW, 3, NOW + timedelta(hours=24)) is None
