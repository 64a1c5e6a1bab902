"""The webhook delivery worker: up to `workers` POSTs in flight at once, each recorded as
an attempt the moment it ends (no batch waits for its slowest POST).

Fair across tenants: due rows come round-robin by owner and the least busy owners are
served first; an owner has at most `per_owner` POSTs in flight and an endpoint (one
webhook) at most `per_endpoint`, so one tenant's slow or dead receivers never take every
worker. An endpoint failing `breaker_failures` times in a row is skipped for a growing
cool-down (its waiting rows are backed off in the store, so replicas skip them too),
then probed one delivery at a time. Failures are retried with `Backoff` until it gives
up (state "failed"); a row's claim lapses after the time limit, so a crash mid-POST
delays it without losing it (at least once)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.retry import report
from services.messaging.adapters import webhook_outbox as outbox
from services.messaging.adapters.webhook_guard import TargetGuard
from services.messaging.adapters.webhook_post import Outcome, post
from services.messaging.adapters.webhook_store import utc
from services.messaging.adapters.webhook_transport import delivery_client
from services.messaging.domain.webhook import Backoff
from services.messaging.domain.webhook_breaker import Breaker
from services.messaging.domain.webhook_targets import AddressPolicy

log = logging.getLogger(__name__)
SETTLE = 0.02  # between looks for due rows: wake-ups that come together share one query


@dataclass(frozen=True)
class Limits:
    workers: int = 32
    per_endpoint: int = 2
    per_owner: int = 8
    breaker_failures: int = 5
    breaker_cool_down: timedelta = timedelta(seconds=30)
    timeout: float = 5.0
    poll: float = 0.5


def attempt_values(row: Any, outcome: Outcome, backoff: Backoff,
                   now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"attempts": row.attempts + 1, "last_error": outcome.error,
                              "last_status_code": outcome.status_code}
    if outcome.ok:
        return values | {"state": "delivered", "delivered_at": now, "next_attempt_at": None}
    created = utc(row.created_at)
    assert created is not None
    retry = backoff.next_attempt(created, row.attempts + 1, now)
    return values | ({"state": "failed", "next_attempt_at": None} if retry is None
                     else {"next_attempt_at": retry})


class DeliveryWorker:
    def __init__(self, engine: AsyncEngine, backoff: Backoff,
                 guard: TargetGuard | None = None, limits: Limits | None = None) -> None:
        self.engine = engine
        self.backoff = backoff
        self.guard = guard or TargetGuard(AddressPolicy())
        self.limits = limits or Limits()
        self.breakers: dict[str, Breaker] = {}
        self.by_hook: Counter[str] = Counter()
        self.by_owner: Counter[int] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with delivery_client(self.guard, self.limits.timeout,
                                   self.limits.workers) as client:
            try:
                while not stop.is_set():
                    self.wake.clear()
                    await self.fill(client)
                    await asyncio.sleep(SETTLE)
                    await self._pause(stop)
            finally:
                await self._finish()

    async def _pause(self, stop: asyncio.Event) -> None:
        """Until a POST ends or new deliveries are written (since the last look), the poll
        interval passes, or the worker is stopped."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self.wake, stop)]
        await asyncio.wait(waits, timeout=self.limits.poll,
                           return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()

    async def _finish(self) -> None:
        """Lets the POSTs in flight end and be recorded; cancelled ones are retried
        once their claim lapses."""
        try:
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=self.limits.timeout + 1)
        finally:
            for task in list(self.tasks):
                task.cancel()

    async def fill(self, client: httpx.AsyncClient) -> int:
        """Start POSTs for due rows while workers are free; how many it started."""
        free = self.limits.workers - len(self.tasks)
        if free <= 0:
            return 0
        now = datetime.now(UTC)
        rows = await outbox.due(self.engine, now, max(free * 4, 50),
                                self._busy_hooks(now), self._full_owners())
        picked = {r.id: r for r in self.pick(rows, free, now)}
        if not picked:
            return 0
        lease = now + timedelta(seconds=self.limits.timeout + 5)
        claimed = await outbox.claim(self.engine, picked, now, lease)
        for row_id in claimed:
            self._start(client, picked[row_id])
        return len(claimed)

    def _busy_hooks(self, now: datetime) -> list[str]:
        hooks = set(self.by_hook) | set(self.breakers)
        return [h for h in hooks if self._room(h, now) <= 0]

    def _full_owners(self) -> list[int]:
        return [o for o, n in self.by_owner.items() if n >= self.limits.per_owner]

    def _room(self, hook: str, now: datetime, taken: int = 0) -> int:
        breaker = self.breakers.get(hook)
        limit = breaker.room(now, self.limits.per_endpoint) if breaker \
            else self.limits.per_endpoint
        return limit - self.by_hook[hook] - taken

    def pick(self, rows: list[Any], free: int, now: datetime) -> list[Any]:
        """Up to `free` rows, least busy owners first, each endpoint and owner within
        its limit."""
        hooks: Counter[str] = Counter()
        owners: Counter[int] = Counter()
        picked: list[Any] = []
        for row in sorted(rows, key=lambda r: (self.by_owner[r.user_id] + r.turn, r.turn)):
            if len(picked) == free:
                break
            if self._room(row.webhook_id, now, hooks[row.webhook_id]) > 0 and \
                    self.by_owner[row.user_id] + owners[row.user_id] < self.limits.per_owner:
                hooks[row.webhook_id] += 1
                owners[row.user_id] += 1
                picked.append(row)
        return picked

    def _start(self, client: httpx.AsyncClient, row: Any) -> None:
        self.by_hook[row.webhook_id] += 1
        self.by_owner[row.user_id] += 1
        task = asyncio.create_task(self._deliver(client, row))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, client: httpx.AsyncClient, row: Any) -> None:
        try:
            await self._record(row, await post(client, row, self.limits.timeout))
        except Exception as exc:  # noqa: BLE001 - the claim lapses; the row is retried
            report(log, f"recording webhook delivery {row.id}", exc)
        finally:
            _release(self.by_hook, row.webhook_id)
            _release(self.by_owner, row.user_id)
            self.wake.set()

    async def _record(self, row: Any, outcome: Outcome) -> None:
        now = datetime.now(UTC)
        await outbox.record(self.engine, row.id, attempt_values(row, outcome, self.backoff,
                                                                 now))
        reopen = self._breaker_after(row.webhook_id, outcome, now)
        if reopen is not None:
            log.info("webhook %s failing: skipped until %s", row.webhook_id, reopen)
            await outbox.back_off(self.engine, row.webhook_id, reopen, now,
                                  self.backoff.give_up_after)

    def _breaker_after(self, hook: str, outcome: Outcome, now: datetime) -> datetime | None:
        if outcome.ok:
            self.breakers.pop(hook, None)
            return None
        breaker = self.breakers.setdefault(hook, Breaker(
            self.limits.breaker_failures, self.limits.breaker_cool_down, self.backoff.cap))
        return breaker.failed(now)


def _release(counter: Counter[Any], key: Any) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
