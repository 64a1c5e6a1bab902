"""The Message aggregate: one message to one recipient, stream "message-<message_id>"."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from datetime import datetime

from kernel.aggregate import Aggregate
from kernel.ids import time_ordered_hex
from services.messaging.domain import rules
from services.messaging.domain.errors import MessageAlreadyQueuedError
from services.messaging.domain.events import Media, MessageQueued
from services.messaging.domain.lifecycle import Status

POOL = "pool"


def new_message_id() -> str:
    """The message id, which is also the API's queue_id: "msg_" and 24 hex digits, the
    first 12 the time it was made (kernel/ids.py: its rows land beside the last ones)."""
    return "msg_" + time_ordered_hex(24)


def message_ids(seed: str, minted: Callable[[], str] = new_message_id) -> Callable[[], str]:
    """Ids for one request's messages: minted afresh, or with a seed (the request's
    Idempotency-Key and body), the same ones each time the request is run, in order."""
    if not seed:
        return minted
    counter = itertools.count()
    return lambda: "msg_" + hashlib.sha256(f"{seed}\n{next(counter)}".encode()).hexdigest()[:24]


def bulk_job_id(first_queue_id: str) -> str:
    """A bulk request's job id, derived from its first message's id: the same for a
    seeded request each time it runs."""
    return "bulk_" + hashlib.sha256(f"bulk\n{first_queue_id}".encode()).hexdigest()[:24]


class Message(Aggregate):
    stream_prefix = "message"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.user_id = 0
        self.number = ""
        self.body = ""
        self.status: Status | None = None

    def queue(self, user_id: int, number: str, body: str, now: datetime,
              channel: str = POOL, instance_id: str = "", media: Media | None = None,
              bulk_job_id: str = "") -> None:
        """Accept the message for sending; the number and body (a media message's
        caption) must pass the rules."""
        if self.status is not None:
            raise MessageAlreadyQueuedError(self.id)
        self._record(MessageQueued(
            message_id=self.id, user_id=user_id, number=rules.recipient_number(number),
            body=rules.media_body(body, media), channel=channel, instance_id=instance_id,
            queued_at=now, media=media, bulk_job_id=bulk_job_id))

    def queue_whatsapp_template(self, user_id: int, number: str, template: str,
                                summary: str, now: datetime) -> None:
        """Accept a Meta template send (a pool message, Meta's object as JSON); `summary`
        is what the history shows for it."""
        if self.status is not None:
            raise MessageAlreadyQueuedError(self.id)
        self._record(MessageQueued(
            message_id=self.id, user_id=user_id, number=rules.recipient_number(number),
            body=summary, channel=POOL, instance_id="", queued_at=now,
            whatsapp_template=template))

    def when_MessageQueued(self, event: MessageQueued) -> None:
        self.user_id = event.user_id
        self.number = event.number
        self.body = event.body
        self.status = Status.QUEUED
