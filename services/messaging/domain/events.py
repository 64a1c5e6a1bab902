"""Domain events of the messaging service: frozen, past tense.

On the wire they are `switchboard.messaging.v1` protobuf messages of the same name and
fields (see adapters/codec.py); a changed payload gets a new field, never a rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Media:
    """The stored file (kernel/media.py) a media message carries; its caption is the
    message's body."""

    sha256: str
    mime_type: str
    size_bytes: int
    filename: str
    kind: str  # image, video, audio or document


@dataclass(frozen=True)
class MessageQueued:
    message_id: str
    user_id: int
    number: str
    body: str
    # "pool" (Messaging API) or "instance" (Instance API, pinned to instance_id).
    channel: str
    instance_id: str
    queued_at: datetime
    whatsapp_template: str = ""  # a Meta template (JSON of Meta's object); body names it
    media: Media | None = None
    bulk_job_id: str = ""  # the bulk request that queued it; empty for a single send
