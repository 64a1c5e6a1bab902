"""NATS JetStream: one stream per service holding its domain events, `sb.<service>.<Type>`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, TypeVar
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from kernel import stackid
from kernel.config import Settings
from kernel.subjects import inbox_prefix, stream_name, subject
from kernel.waits import Backoff

if TYPE_CHECKING:  # the gateway and the launcher use the bus without a store
    from kernel.eventstore import StoredEvent

log = logging.getLogger(__name__)
T = TypeVar("T")
ASK_TRIES = 3  # a JetStream API request unanswered within its 5 s, asked again

# An event on the bus carries two headers: the broker's de-duplication id and the rest of
# its envelope in one value (see `headers_for`); its type is the subject's last token.
H_DEDUP = "Nats-Msg-Id"
H_EVENT = "Sb-Event"


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


async def asked_until_answered(ask: Callable[[], Awaitable[T]], what: str) -> T:
    """An idempotent JetStream API request (create a stream or a durable), asked again
    after a pause (`Backoff`'s) when a busy server leaves it unanswered within its time
    limit, up to ASK_TRIES times; the last try's error is raised."""
    backoff = Backoff()
    for _ in range(ASK_TRIES - 1):
        try:
            return await ask()
        except (NatsTimeoutError, TimeoutError):
            log.warning("%s: no answer yet; asking again", what)
            await backoff.pause()
    return await ask()


async def ensure_stream(js: JetStreamContext, service: str, replicas: int = 1,
                        stack_id: str = "") -> None:
    """Create the service's event stream (idempotent). Events are kept for good. With a
    `stack_id`, the stream carries it, and one of another stack is refused (ForeignStack,
    kernel/stackid.py). A busy server's unanswered request is asked again, as a durable's
    creation is (`asked_until_answered`)."""
    await asked_until_answered(lambda: _ensure_stream(js, service, replicas, stack_id),
                               f"creating stream {stream_name(service)}")


async def _ensure_stream(js: JetStreamContext, service: str, replicas: int,
                         stack_id: str) -> None:
    name = stream_name(service)
    try:
        kept = (await js.stream_info(name)).config.metadata
    except NotFoundError:
        kept = None
    config = StreamConfig(
        name=name,
        subjects=[subject(service)],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=120.0,
        metadata=stackid.metadata(kept, stack_id, name) or None,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def remove_consumer(js: JetStreamContext, service: str, durable: str) -> bool:
    """Delete a durable consumer of the service's stream; False when there was none (nor,
    perhaps, a stream). A busy server's unanswered request is asked again."""
    async def delete() -> bool:
        try:
            return bool(await js.delete_consumer(stream_name(service), durable))
        except NotFoundError:
            return False

    return await asked_until_answered(delete, f"removing consumer {durable}")


def headers_for(service: str, event: StoredEvent) -> dict[str, str]:
    """`Nats-Msg-Id` = event id, and `Sb-Event`: event id, stream version, recording time,
    correlation and causation ids and stream id, one space apart. Ids never hold a space
    (uuids; correlation ids are fitted, kernel/context.py); the stream id, last, may.
    nats-py parses every header of every message it receives, so two cost a replay a
    fifth of what nine did (docs/performance.md, "Third wave")."""
    meta = event.meta
    return {
        H_DEDUP: event.event_id,
        H_EVENT: f"{event.event_id} {event.stream_version} {event.recorded_at.isoformat()} "
                 f"{meta.get('correlation_id', '')} {meta.get('causation_id', '')} "
                 f"{event.stream_id}",
    }


class Envelope(NamedTuple):
    """A domain event as a consumer receives it from JetStream. Immutable, and a tuple:
    a replay builds one per event, and a frozen dataclass took twice as long to build
    as the rest of receiving the event."""

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
    deliveries: int = 0  # how often JetStream delivered it, this time included (0 off JetStream)

    @classmethod
    def from_msg(cls, msg: Msg) -> Envelope:
        """The one way a received message becomes an envelope (headers from `headers_for`,
        subject `sb.<service>.<EventType>`)."""
        return cls.decode(msg.subject, msg.reply, msg.data, (msg.headers or {})[H_EVENT])

    @classmethod
    def stored(cls, service: str, event: StoredEvent) -> Envelope:
        """A stored event of the service as its stream would deliver it (the stored
        payload; no stream sequence)."""
        return cls(service, event.event_id, event.event_type, event.stream_id,
                   event.stream_version, event.payload, event.meta.get("correlation_id", ""),
                   event.meta.get("causation_id", ""), event.recorded_at, 0)

    @classmethod
    def decode(cls, msg_subject: str, reply: str, data: bytes, sb_event: str) -> Envelope:
        """`from_msg` from a message's parts, `sb_event` its Sb-Event header's value (a
        replay reads it off the raw message without nats-py's parse, kernel/replay.py)."""
        event_id, version, recorded, correlation, causation, stream_id = sb_event.split(" ", 5)
        _, service, event_type = msg_subject.split(".", 2)
        return cls(service, event_id, event_type, stream_id, int(version), data,
                   correlation, causation, datetime.fromisoformat(recorded),
                   *_sequence_and_deliveries(reply))


def usual_ack_tokens(reply: str) -> list[str] | None:
    """The tokens of a delivered message's reply subject in its usual form, `$JS.ACK.
    <stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<stored, ns>.<pending>`,
    read straight off it: building nats-py's whole metadata (timestamps and all) for
    every message cost a replay several per cent. None for the other forms (with a
    JetStream domain), which are left to nats-py's `Msg.metadata`."""
    tokens = reply.split(".")
    return tokens if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK" else None


def _sequence_and_deliveries(reply: str) -> tuple[int, int]:
    """The stream sequence and `num_delivered` (0, 0 off JetStream)."""
    if not reply:
        return 0, 0
    if (tokens := usual_ack_tokens(reply)) is not None:
        return int(tokens[5]), int(tokens[4])
    meta = Msg(_client=None, reply=reply).metadata  # type: ignore[arg-type]
    return meta.sequence.stream, meta.num_delivered
