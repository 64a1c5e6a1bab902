"""NATS JetStream: one stream per service holding its domain events, `sb.<service>.<Type>`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from kernel.config import Settings
from kernel.eventstore import StoredEvent

log = logging.getLogger(__name__)

H_EVENT_ID = "Sb-Event-Id"
H_TYPE = "Sb-Event-Type"
H_STREAM = "Sb-Stream-Id"
H_VERSION = "Sb-Stream-Version"
H_POSITION = "Sb-Position"
H_CORRELATION = "Sb-Correlation-Id"
H_CAUSATION = "Sb-Causation-Id"
H_RECORDED = "Sb-Recorded-At"


def stream_name(service: str) -> str:
    return f"SB_{service.upper()}"


def subject(service: str, event_type: str = ">") -> str:
    return f"sb.{service}.{event_type}"


def inbox_prefix(user: str) -> str:
    """Where a NATS user's replies arrive: each user may subscribe to its own only."""
    return f"_INBOX_{user}" if user else "_INBOX"


async def connect(url: str, name: str, user: str = "", password: str = "") -> NATS:
    """A connection as `user` (or as the user named in the URL, `nats://user:pw@host`)."""
    async def on_error(exc: Exception) -> None:
        log.warning("nats: %s", exc)

    user = user or urlsplit(url).username or ""
    return await nats.connect(url, name=name, error_cb=on_error, max_reconnect_attempts=-1,
                              reconnect_time_wait=0.5, user=user or None,
                              password=password or None, inbox_prefix=inbox_prefix(user))


async def connect_as(settings: Settings, name: str) -> NATS:
    """A connection with the process's NATS credentials (SWITCHBOARD_NATS_USER, _PASSWORD)."""
    return await connect(settings.nats_url, name, settings.nats_user, settings.nats_password)


async def ensure_stream(js: JetStreamContext, service: str, replicas: int = 1) -> None:
    """Create the service's event stream (idempotent). Events are kept for good."""
    config = StreamConfig(
        name=stream_name(service),
        subjects=[subject(service)],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=120.0,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


def headers_for(service: str, event: StoredEvent) -> dict[str, str]:
    return {
        "Nats-Msg-Id": event.event_id,
        H_EVENT_ID: event.event_id,
        H_TYPE: event.event_type,
        H_STREAM: event.stream_id,
        H_VERSION: str(event.stream_version),
        H_POSITION: str(event.position),
        H_CORRELATION: str(event.meta.get("correlation_id", "")),
        H_CAUSATION: str(event.meta.get("causation_id", "")),
        H_RECORDED: event.recorded_at.isoformat(),
    }


@dataclass(frozen=True)
class Envelope:
    """A domain event as a consumer receives it from JetStream."""

    service: str
    event_id: str
    event_type: str
    stream_id: str
    stream_version: int
    payload: bytes
    correlation_id: str
    causation_id: str
    recorded_at: datetime
    stream_sequence: int

    @classmethod
    def from_msg(cls, msg: Msg) -> Envelope:
        h = msg.headers or {}
        return cls(
            service=msg.subject.split(".")[1],
            event_id=h[H_EVENT_ID],
            event_type=h[H_TYPE],
            stream_id=h[H_STREAM],
            stream_version=int(h[H_VERSION]),
            payload=msg.data,
            correlation_id=h.get(H_CORRELATION, ""),
            causation_id=h.get(H_CAUSATION, ""),
            recorded_at=datetime.fromisoformat(h[H_RECORDED]),
            stream_sequence=_stream_sequence(msg),
        )


def _stream_sequence(msg: Msg) -> int:
    """`msg.metadata.sequence.stream` (0 off JetStream), read straight off the usual
    `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...` reply subject; building the
    whole metadata (timestamps and all) for every message cost a replay several per cent."""
    if not msg.reply:
        return 0
    tokens = msg.reply.split(".")
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[5])
    return msg.metadata.sequence.stream
