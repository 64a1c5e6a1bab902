"""The webhook delivery worker: POSTs due outbox rows, signed, and records each attempt.

A row is due when its next attempt time has come and no earlier status of the same
message is still pending for the same webhook (order per message). Network errors and
non-2xx answers are retried with `Backoff` until it gives up (state "failed"). Each row
is claimed (its next attempt pushed past the timeout) before it is sent, so two
replicas do not send the same row at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased

from services.messaging.adapters.webhook_store import utc
from services.messaging.adapters.webhook_tables import webhook_deliveries, webhooks
from services.messaging.domain.webhook import Backoff, signature

log = logging.getLogger(__name__)
d = webhook_deliveries


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _due_query(now: datetime, batch: int) -> Any:
    earlier = aliased(d)
    blocked = exists().where(and_(
        earlier.c.webhook_id == d.c.webhook_id, earlier.c.queue_id == d.c.queue_id,
        earlier.c.state == "pending",
        (earlier.c.rank < d.c.rank) | and_(earlier.c.rank == d.c.rank, earlier.c.id < d.c.id)))
    return (select(d.c.id, d.c.event_id, d.c.body, d.c.attempts, d.c.created_at,
                   d.c.next_attempt_at, webhooks.c.url, webhooks.c.secret)
            .join(webhooks, webhooks.c.webhook_id == d.c.webhook_id)
            .where(d.c.state == "pending", d.c.next_attempt_at <= now, ~blocked)
            .order_by(d.c.next_attempt_at, d.c.id).limit(batch))


class DeliveryWorker:
    def __init__(self, engine: AsyncEngine, backoff: Backoff, timeout: float = 10.0,
                 poll: float = 0.5, batch: int = 50) -> None:
        self.engine = engine
        self.backoff = backoff
        self.timeout = timeout
        self.poll = poll
        self.batch = batch

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while not stop.is_set():
                sent = await self.drain_once(client)
                if not sent:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.poll)

    async def drain_once(self, client: httpx.AsyncClient) -> int:
        now = datetime.now(UTC)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_due_query(now, self.batch))).all()
        claimed = [r for r in rows if await self._claim(r, now)]
        outcomes = await asyncio.gather(*(self._post(client, r) for r in claimed))
        for row, outcome in zip(claimed, outcomes, strict=True):
            await self._record(row, outcome)
        return len(claimed)

    async def _claim(self, row: Any, now: datetime) -> bool:
        lease = now + timedelta(seconds=self.timeout + 5)
        async with self.engine.begin() as conn:
            result = await conn.execute(update(d).where(
                d.c.id == row.id, d.c.state == "pending",
                d.c.next_attempt_at == row.next_attempt_at).values(next_attempt_at=lease))
        return bool(result.rowcount)

    async def _post(self, client: httpx.AsyncClient, row: Any) -> Outcome:
        body: bytes = row.body
        headers = {"Content-Type": "application/json",
                   "X-Switchboard-Event": "message.status",
                   "X-Switchboard-Event-Id": row.event_id,
                   "X-Switchboard-Timestamp": str(int(time.time())),
                   "X-Switchboard-Signature": signature(row.secret, body)}
        try:
            response = await client.post(row.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return Outcome(response.status_code, error)

    async def _record(self, row: Any, outcome: Outcome) -> None:
        now = datetime.now(UTC)
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_status_code": outcome.status_code,
                                  "last_error": outcome.error}
        if outcome.ok:
            values |= {"state": "delivered", "delivered_at": now, "next_attempt_at": None}
        else:
            created = utc(row.created_at)
            assert created is not None
            retry = self.backoff.next_attempt(created, attempts, now)
            values |= ({"state": "failed", "next_attempt_at": None} if retry is None
                       else {"next_attempt_at": retry})
            log.info("webhook delivery %s attempt %d failed: %s", row.id, attempts,
                     outcome.error)
        async with self.engine.begin() as conn:
            await conn.execute(update(d).where(d.c.id == row.id).values(**values))
