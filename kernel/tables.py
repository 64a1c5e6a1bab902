"""The kernel's own tables, in every service store: events (also the outbox), the relay's
progress, the ids of events each consumer has already processed, and how far a rebuilt
projection has applied each of its source streams.

They are made with `create_all` at every start (kernel/host.py, the rebuild commands), which
adds a table a store does not have yet and leaves the others as they are."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

events_table = Table(
    "events",
    metadata,
    Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("meta", JSON, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
)


def relay_offset_name(service: str) -> str:
    """The `relay_offsets` row of a service's relay."""
    return f"relay-{service}"


relay_offsets = Table(
    "relay_offsets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", String(100), nullable=False),
    Column("event_id", String(36), nullable=False),
    PrimaryKeyConstraint("consumer", "event_id"),
)

projection_positions = Table(
    "projection_positions",
    metadata,
    Column("consumer", String(100), nullable=False),
    Column("source", String(100), nullable=False),
    # A rebuild applied every event of the source's stream up to this stream sequence.
    Column("position", BigInteger, nullable=False),
    # The lowest stream sequence a live consumer applied (tracked by event id) since the
    # rebuild began; None while it applied none. From there on the rebuild tracks by id.
    Column("live_from", BigInteger, nullable=True),
    PrimaryKeyConstraint("consumer", "source"),
)
