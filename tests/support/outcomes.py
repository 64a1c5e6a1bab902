"""What a load left behind, read from the stack's own files and streams: each message's
status in the history view, the far side's inboxes, the billing ledger's events, and the
history and quota views beside the same views replayed from the streams."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel import bus
from kernel.bus import Envelope
from kernel.config import SERVICES
from kernel.consumer import apply_new
from kernel.db import create_engine
from kernel.tables import processed_events
from services.billing.adapters.quota_projection import QuotaProjection
from services.billing.adapters.quota_view import instance_periods, user_months
from services.messaging.adapters.history_projection import HistoryProjection
from services.messaging.adapters.history_view import message_history
from switchboard.billing.v1 import events_pb2

TERMINAL = ("read", "failed")


def _rows(path: Path, sql: str, args: Iterable[object] = ()) -> list[tuple]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute(sql, tuple(args)).fetchall()
    finally:
        db.close()


def statuses(var_dir: Path, user_id: int) -> dict[str, str]:
    """queue_id -> status word, from the live history view, for one user's messages."""
    rows = _rows(var_dir / "messaging.db",
                 "SELECT queue_id, status FROM message_history WHERE user_id = ?", [user_id])
    return dict(rows)


def queued(var_dir: Path, user_id: int) -> dict[str, tuple[str, str]]:
    """queue_id -> (number, body) of every message of the user's in the history view."""
    rows = _rows(var_dir / "messaging.db", "SELECT queue_id, number, message"
                 " FROM message_history WHERE user_id = ?", [user_id])
    return {r[0]: (r[1], r[2]) for r in rows}


def settle(var_dir: Path, user_id: int, ids: set[str], within: float) -> dict[str, str]:
    """Wait until every one of `ids` is terminal; the statuses of all the user's messages."""
    deadline = time.monotonic() + within
    while True:
        found = statuses(var_dir, user_id)
        waiting = [i for i in ids if found.get(i) not in TERMINAL]
        if not waiting or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def span(var_dir: Path, user_id: int) -> float:
    """Seconds from the user's first message queued to their last one's latest change."""
    [(first, last)] = _rows(var_dir / "messaging.db", "SELECT MIN(created_at),"
                            " MAX(updated_at) FROM message_history WHERE user_id = ?",
                            [user_id])
    return (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()


def inboxes(var_dir: Path, marker: str) -> Counter[tuple[str, str, str]]:
    """(recipient, transport message id, body) -> copies held, for bodies with `marker`."""
    rows = _rows(var_dir / "simulator.db",
                 "SELECT recipient, tmid, body FROM inbox WHERE body LIKE ?", [f"%{marker}%"])
    return Counter(rows)


@dataclass
class Holds:
    """One account's reservations as its events tell them."""

    granted: int = 0
    reserved: Counter[str] = field(default_factory=Counter)
    released: Counter[str] = field(default_factory=Counter)
    spent: Counter[str] = field(default_factory=Counter)
    charged_amount: int = 0
    refunded_amount: int = 0

    @property
    def net_charged(self) -> set[str]:
        return set(self.reserved) - set(self.released)


CREDIT_EVENTS = {"CreditsGranted", "SignupCreditsGranted", "CreditsReserved",
                 "CreditsSpent", "CreditsReleased"}
QUOTA_EVENTS = {"QuotaReserved", "QuotaSpent", "QuotaReleased"}


def _events(var_dir: Path, stream_id: str) -> list[tuple[str, bytes]]:
    return _rows(var_dir / "billing.db", "SELECT event_type, payload FROM events"
                 " WHERE stream_id = ? ORDER BY position", [stream_id])


def credit_holds(var_dir: Path, user_id: int) -> Holds:
    holds = Holds()
    for kind, payload in _events(var_dir, f"ledger-{user_id}"):
        if kind not in CREDIT_EVENTS:
            continue
        event = getattr(events_pb2, kind).FromString(payload)
        if kind in ("CreditsGranted", "SignupCreditsGranted"):
            holds.granted += event.amount
        elif kind == "CreditsReserved":
            holds.reserved.update(event.message_ids)
            holds.charged_amount += event.amount
        elif kind == "CreditsReleased":
            holds.released.update(event.message_ids)
            holds.refunded_amount += event.amount
        else:
            holds.spent.update(event.message_ids)
    return holds


def quota_holds(var_dir: Path, instance_id: str) -> Holds:
    holds = Holds()
    for kind, payload in _events(var_dir, f"subscription-{instance_id}"):
        if kind not in QUOTA_EVENTS:
            continue
        event = getattr(events_pb2, kind).FromString(payload)
        if kind == "QuotaReserved":
            holds.reserved.update(event.message_ids)
            holds.charged_amount += event.count
        elif kind == "QuotaReleased":
            holds.released.update(event.message_ids)
            holds.refunded_amount += event.returned
        else:
            holds.spent.update(event.message_ids)
    return holds


# The views: live, and replayed from the streams into an empty store.
#
# A full `switchboard projections rebuild` replays every stream from its first message,
# every earlier scenario's events too; the views are per message, user and instance, so
# the tenant's rows come only from events published since the tenant was made. The
# replay starts there and applies each event in turn with the projection's own `apply`
# (tracked by event id, as the rebuild does): the reference that the live consumers and
# the rebuild, which fold whole batches, must both come out equal to.

async def stream_tails(nats_url: str) -> dict[str, int]:
    """Each service stream's last sequence: where a later replay starts from."""
    nc = await bus.connect(nats_url, name="crash-check")
    try:
        js = nc.jetstream()
        return {svc: (await js.stream_info(bus.stream_name(svc))).state.last_seq
                for svc in SERVICES}
    finally:
        await nc.drain()


async def _replay(js: JetStreamContext, service: str, types: list[str], after: int
                  ) -> AsyncIterator[list[Envelope]]:
    subjects = [bus.subject(service, t) for t in types]
    last = (await js.stream_info(bus.stream_name(service))).state.last_seq
    if last <= after:
        return
    config = ConsumerConfig(ack_policy=AckPolicy.NONE,
                            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                            opt_start_seq=after + 1, filter_subjects=subjects,
                            inactive_threshold=60.0)
    sub = await js.pull_subscribe(subjects[0], stream=bus.stream_name(service), config=config)
    try:
        while True:
            try:
                msgs = await sub.fetch(2000, timeout=1.0)
            except (NatsTimeoutError, TimeoutError):
                return
            yield [Envelope.from_msg(m) for m in msgs]
            tail = msgs[-1].metadata
            if tail.sequence.stream >= last or tail.num_pending == 0:
                return
    finally:
        await sub.unsubscribe()


async def replayed_views(nats_url: str, tails: dict[str, int], store: Path
                         ) -> dict[str, set[tuple]]:
    """Every row of the history and quota views made from the events after `tails`."""
    engine = create_engine(f"sqlite+aiosqlite:///{store}")
    nc = await bus.connect(nats_url, name="crash-check")
    history, quota = HistoryProjection("check-history"), QuotaProjection("check-quota")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(processed_events.metadata.create_all)
            await conn.run_sync(history.view.create_all)
            await conn.run_sync(quota.view.create_all)
        for projection in (history, quota):
            for service, types in projection.sources.items():
                async for batch in _replay(nc.jetstream(), service, list(types),
                                           tails[service]):
                    async with engine.begin() as conn:
                        await apply_new(conn, projection.name, batch, projection.apply)
        return await _view_rows(engine)
    finally:
        await nc.drain()
        await engine.dispose()


async def live_views(var_dir: Path) -> dict[str, set[tuple]]:
    found: dict[str, set[tuple]] = {}
    for service in ("messaging", "billing"):
        engine = create_engine(f"sqlite+aiosqlite:///{var_dir / f'{service}.db'}")
        try:
            found.update(await _view_rows(engine))
        finally:
            await engine.dispose()
    return found


VIEWS = [message_history, instance_periods, user_months]


async def _view_rows(engine: AsyncEngine) -> dict[str, set[tuple]]:
    found: dict[str, set[tuple]] = {}
    async with engine.connect() as conn:
        for table in VIEWS:
            try:
                found[table.name] = {tuple(r) for r in await conn.execute(select(table))}
            except OperationalError:  # not this service's table
                continue
    return found


def tenant_rows(views: dict[str, set[tuple]], user_id: int) -> dict[str, set[tuple]]:
    """The rows of one user: history and user months by user id, periods by owner."""
    columns = {t.name: [c.name for c in t.columns].index("user_id") for t in VIEWS}
    return {name: {r for r in rows if r[columns[name]] == user_id}
            for name, rows in views.items()}
