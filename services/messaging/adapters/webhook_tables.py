"""Webhooks' tables in the messaging store: the registrations (written with their
events) and the delivery outbox (written by the fan-out consumer, drained by the worker)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

webhook_metadata = MetaData()
HOOK_DUE_INDEX = "ix_webhook_deliveries_hook_due"  # added later: also ensured at start

webhooks = Table(
    "webhooks",
    webhook_metadata,
    Column("webhook_id", String(40), primary_key=True),
    Column("user_id", BigInteger, nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# state: pending -> delivered | failed (gave up) | cancelled (webhook removed). `rank` is
# the status's place in the lattice: a delivery waits while an earlier-ranked one for its
# message is pending (written with no next attempt time, released when that one ends).
webhook_deliveries = Table(
    "webhook_deliveries",
    webhook_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", String(40), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("queue_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("webhook_id", "event_id", name="uq_webhook_delivery_event"),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_message", "webhook_id", "queue_id", "rank"),
    Index(HOOK_DUE_INDEX, "state", "webhook_id", "next_attempt_at"),
)
