"""The webhook delivery worker: up to `workers` POSTs in flight at once, each recorded as
an attempt the moment it ends (no batch waits for its slowest POST).

Fair across tenants: free workers are handed out one at a time to the least busy owner
with due rows, round-robin over that owner's webhooks; an owner has at most `per_owner`
POSTs in flight and an endpoint (one webhook) at most `per_endpoint`, so one tenant's
slow or dead receivers never take every worker. An endpoint failing `breaker_failures`
times in a row is skipped for a growing cool-down (its waiting rows are backed off in
the store, so replicas skip them too), then probed one delivery at a time. Failures are
retried with `Backoff` until it gives up (state "failed"); a row's claim lapses after the
time limit, so a crash mid-POST delays it without losing it (at least once)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.clock import as_utc
from kernel.retry import report
from kernel.waits import waited
from services.messaging.adapters import webhook_outbox as outbox
from services.messaging.adapters.webhook_guard import TargetGuard
from services.messaging.adapters.webhook_post import Outcome, post
from services.messaging.adapters.webhook_transport import delivery_client
from services.messaging.domain.webhook import Backoff
from services.messaging.domain.webhook_breaker import Breaker
from services.messaging.domain.webhook_targets import AddressPolicy

log = logging.getLogger(__name__)
SETTLE = 0.02  # between looks for due rows: wake-ups that come together share one query
# Between looks while no webhook has a pending row: rows this process writes wake the
# worker at once; this bounds how late it finds rows another replica wrote and left.
IDLE_LOOK = 5.0


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
    created = as_utc(row.created_at)
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
        self.pending = True  # rows may be pending: look again after `poll`

    async def run(self, stop: asyncio.Event) -> None:
        await outbox.ensure_index(self.engine)
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
        interval passes (IDLE_LOOK when nothing was pending nor in flight), or the worker
        is stopped."""
        busy = self.pending or bool(self.tasks)
        await waited(self.wake, stop, seconds=self.limits.poll if busy
                     else max(self.limits.poll, IDLE_LOOK))

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
        held: dict[str, datetime] = {}
        found = await outbox.due(self.engine, now,
                                 lambda hooks: self.plan(hooks, free, now, held))
        self.pending = found.pending
        for hook, until in held.items():  # written or recorded after its breaker opened
            await outbox.back_off(self.engine, hook, until, now, self.backoff.give_up_after)
        if not found.rows:
            return 0
        picked = {r.id: r for r in found.rows}
        lease = now + timedelta(seconds=self.limits.timeout + 5)
        claimed = await outbox.claim(self.engine, picked, now, lease)
        for row_id in claimed:
            self._start(client, picked[row_id])
        return len(claimed)

    def _room(self, hook: str, now: datetime, taken: int = 0) -> int:
        breaker = self.breakers.get(hook)
        limit = breaker.room(now, self.limits.per_endpoint) if breaker \
            else self.limits.per_endpoint
        return limit - self.by_hook[hook] - taken

    def plan(self, hooks: list[Any], free: int, now: datetime,
             held: dict[str, datetime] | None = None) -> dict[str, int]:
        """How many rows to take from each due webhook: `free` slots handed out one at a
        time to the least busy owner, round-robin over that owner's webhooks, each
        webhook and owner within its limit. Due webhooks whose breaker is open go into
        `held` (until when), so that their rows are pushed back for every replica."""
        queues: dict[int, list[Any]] = {}
        for hook in sorted(hooks, key=lambda h: as_utc(h.since) or now):
            until = self._held_until(hook.hook, now)
            if until is not None and held is not None:
                held[hook.hook] = until
            queues.setdefault(hook.user_id, []).append(hook)
        load = {owner: self.by_owner[owner] for owner in queues}
        taken: Counter[str] = Counter()
        while free > 0 and queues:
            owner = min(queues, key=load.__getitem__)
            mine = queues[owner]
            hook = next((h for h in mine if self._room(h.hook, now, taken[h.hook]) > 0), None)
            if hook is None or load[owner] >= self.limits.per_owner:
                del queues[owner]
                continue
            mine.remove(hook)
            mine.append(hook)
            taken[hook.hook] += 1
            load[owner] += 1
            free -= 1
        return dict(taken)

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
        await outbox.record(self.engine, row, attempt_values(row, outcome, self.backoff, now),
                            now)
        reopen = self._breaker_after(row.webhook_id, outcome, now)
        if reopen is not None:
            log.info("webhook %s failing: skipped until %s", row.webhook_id, reopen)
            await outbox.back_off(self.engine, row.webhook_id, reopen, now,
                                  self.backoff.give_up_after)

    def _held_until(self, hook: str, now: datetime) -> datetime | None:
        breaker = self.breakers.get(hook)
        return breaker.held_until(now) if breaker is not None else None

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
