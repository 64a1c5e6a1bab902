"""The quota view's merges on SQLite and PostgreSQL: event by event in any order, folded
in batches, or with every event delivered twice, the view comes out the same."""

import random
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from kernel.bus import Envelope
from kernel.config import Settings
from kernel.db import engine_for
from kernel.tables import metadata as kernel_metadata
from services.billing.adapters.codec import billing_codec
from services.billing.adapters.quota_projection import QuotaProjection, apply_folded
from services.billing.adapters.quota_view import instance_periods, user_months, view_metadata
from services.billing.domain.model import Account, Ledger
from services.billing.domain.plans import Plan
from services.billing.domain.quota import QuotaAccount
from services.billing.domain.subscription import Subscription
from switchboard.messaging.v1 import events_pb2 as messaging_events

JAN = datetime(2024, 1, 1, tzinfo=UTC)


def at(day: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC).replace(month=1 + (day // 28) % 12, day=1 + day % 28)


def billing_history() -> list[Envelope]:
    codec = billing_codec()
    quota = QuotaAccount(Subscription("i1"), Plan(1, 1, 5, True))
    quota.ready(JAN, user_id=0)
    quota.reserve(["q1", "q2", "q3"], JAN)
    quota.refund(["q1"], "failed", JAN)
    quota.ready(JAN, user_id=7)  # the owner, learnt late
    quota.reserve(["q4"], datetime(2024, 2, 3, tzinfo=UTC))
    quota.renew(Plan(3, 2, 100, False), 4999, datetime(2024, 2, 10, tzinfo=UTC))
    quota.status(datetime(2025, 3, 1, tzinfo=UTC))
    quota.cancel("instance deleted", datetime(2025, 3, 2, tzinfo=UTC))
    credits = Account(Ledger("7"))
    credits.ledger.grant(10, "top-up", 1)
    credits.reserve(["c1", "c2"])
    credits.refund(["c1"], "failed")
    events = [*quota.subscription.pending, *credits.ledger.pending]
    return [envelope("billing", codec.encode(e).event_type, codec.encode(e).payload, day=i)
            for i, e in enumerate(events)]


def queued(count: int) -> list[Envelope]:
    return [envelope("messaging", "MessageQueued", messaging_events.MessageQueued(
        message_id=f"m{i}", user_id=7, channel="instance" if i % 2 else "pool",
        instance_id="i1").SerializeToString(), day=i * 20) for i in range(count)]


def envelope(service: str, event_type: str, payload: bytes, day: int) -> Envelope:
    return Envelope(service=service, event_id=str(uuid.uuid4()), event_type=event_type,
                    stream_id="s", stream_version=1, payload=payload, correlation_id="",
                    causation_id="", recorded_at=at(day), stream_sequence=0)


@pytest.fixture
async def engine(database_url):
    made = await engine_for("billing", Settings(database_url=database_url))
    yield made
    await made.dispose()


async def view_after(engine, apply) -> tuple[list, list]:
    async with engine.begin() as conn:
        await conn.run_sync(view_metadata.drop_all)
        await conn.run_sync(kernel_metadata.create_all)
        await conn.run_sync(view_metadata.create_all)
    await apply()
    async with engine.connect() as conn:
        periods = (await conn.execute(select(instance_periods).order_by(
            instance_periods.c.instance_id, instance_periods.c.period_key))).all()
        months = (await conn.execute(select(user_months).order_by(user_months.c.month))).all()
    return [tuple(r) for r in periods], [tuple(r) for r in months]


async def test_order_folding_and_duplicates_do_not_change_the_view(engine):
    history = billing_history() + queued(12)
    projection = QuotaProjection(f"merge-{uuid.uuid4().hex[:6]}")

    async def one_by_one_shuffled():
        shuffled = random.Random(7).sample(history, len(history))
        async with engine.begin() as conn:
            for event in shuffled:
                await projection.apply(event, conn)

    async def folded_twice():
        async with engine.begin() as conn:
            await apply_folded(conn, projection.name + "-f", history[:9])
            await apply_folded(conn, projection.name + "-f", history)

    baseline = await view_after(engine, one_by_one_shuffled)
    assert await view_after(engine, folded_twice) == baseline
    periods, months = (as_dicts(baseline[0], instance_periods),
                       as_dicts(baseline[1], user_months))
    summary = [(p["subscription_type"], p["monthly_quota"],
                p["messages_reserved"] - p["messages_returned"], p["status"], p["user_id"])
               for p in periods]
    assert summary[0] == (1, 5, 2, "completed", 7)
    assert summary[1] == (1, 5, 1, "renewed", 7)
    assert summary[-1][3] == "cancelled"
    assert {p[3] for p in summary[2:-1]} == {"completed"}
    totals = [sum(m[k] for m in months) for k in (
        "messages_queued", "instance_messages_queued", "credits_granted", "credits_reserved",
        "credits_refunded", "renewal_payments_cents")]
    assert totals == [12, 6, 10, 2, 1, 4999]


def as_dicts(rows, table):
    names = [c.name for c in table.columns]
    return [dict(zip(names, row, strict=True)) for row in rows]
