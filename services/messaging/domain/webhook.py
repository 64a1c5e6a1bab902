"""The Webhook aggregate (stream "webhook-<id>"), its events, and the delivery rules:
what is POSTed for a status change, how it is signed, when a failed one is retried."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from kernel.aggregate import Aggregate
from kernel.errors import InvalidRequestError, NotFoundError
from services.messaging.domain.errors import MessagingError
from services.messaging.domain.lifecycle import HistoryEntry

MAX_URL = 2048
MAX_SECRET = 256
EVENT = "message.status"


@dataclass(frozen=True)
class WebhookRegistered:
    webhook_id: str
    user_id: int
    url: str
    secret: str
    registered_at: datetime


@dataclass(frozen=True)
class WebhookRemoved:
    webhook_id: str
    user_id: int
    removed_at: datetime


class InvalidWebhookError(MessagingError, InvalidRequestError):
    pass


class WebhookLimitError(MessagingError, InvalidRequestError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"At most {limit} webhooks per user: delete one before adding "
                         "another", limit=limit)


class WebhookNotFoundError(MessagingError, NotFoundError):
    def __init__(self, webhook_id: str) -> None:
        super().__init__(f"Webhook {webhook_id[:40]!r} not found")


def new_webhook_id() -> str:
    return "whk_" + secrets.token_hex(12)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def webhook_url(url: str) -> str:
    """An absolute http(s) URL with a host, at most MAX_URL characters, without control
    characters or white space (the HTTP client's own parse is the adapter's)."""
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise InvalidWebhookError(f"url must be 1..{MAX_URL} characters")
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        raise InvalidWebhookError("url must not contain control characters or spaces")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidWebhookError("url is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookError("url must be an absolute http or https URL")
    return url


def webhook_secret(secret: str) -> str:
    if len(secret) > MAX_SECRET:
        raise InvalidWebhookError(f"secret must be at most {MAX_SECRET} characters")
    return secret or new_secret()


class Webhook(Aggregate):
    stream_prefix = "webhook"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.user_id = 0
        self.active = False

    def register(self, user_id: int, url: str, secret: str, now: datetime) -> None:
        self._record(WebhookRegistered(webhook_id=self.id, user_id=user_id,
                                       url=webhook_url(url), secret=webhook_secret(secret),
                                       registered_at=now))

    def remove(self, user_id: int, now: datetime) -> None:
        if not self.active or self.user_id != user_id:
            raise WebhookNotFoundError(self.id)
        self._record(WebhookRemoved(webhook_id=self.id, user_id=user_id, removed_at=now))

    def when_WebhookRegistered(self, event: WebhookRegistered) -> None:
        self.user_id = event.user_id
        self.active = True

    def when_WebhookRemoved(self, event: WebhookRemoved) -> None:
        self.active = False


def status_word(entry: HistoryEntry) -> str:
    """The Messaging API's word for the status: "Queued" ... "Failed"."""
    return entry.status.label.capitalize()


def status_body(entry: HistoryEntry, number: str | None) -> bytes:
    """The JSON POSTed for one status change (also the live stream's data)."""
    return json.dumps({
        "event": EVENT, "queue_id": entry.queue_id, "number": number or entry.number,
        "status": status_word(entry), "error_message": entry.error_message,
        "timestamp": entry.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """X-Switchboard-Signature: "sha256=" + hex HMAC-SHA256(secret, raw body)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Backoff:
    """Retry after base * 2^(attempts-1), capped, with up to `jitter` of it added;
    give up once the delivery is older than `give_up_after`."""

    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.2
    give_up_after: timedelta = timedelta(hours=24)

    def delay(self, attempts: int) -> timedelta:
        raw = min(self.base * (2 ** min(max(attempts - 1, 0), 40)), self.cap)
        return raw * (1 + random.uniform(0, self.jitter))

    def next_attempt(self, created_at: datetime, attempts: int,
                     now: datetime) -> datetime | None:
        """When to try again after `attempts` failures; None: give up."""
        if now - created_at >= self.give_up_after:
            return None
        return now + self.delay(attempts)
