"""Changes to users' accounts: serialised per user in this process, written in batches.

While one batch for a user is being written, the next one gathers. Each batch loads the
ledger (through the repository's catch-up cache) and the reservations it touches once,
applies its changes in arrival order and appends everything in one transaction. If
another process wrote the same streams first, the append fails with ConcurrencyError and
the batch is reloaded and applied again, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from kernel.aggregate import Repository
from kernel.errors import DomainError
from kernel.eventstore import ConcurrencyError
from services.billing.domain.errors import LedgerBusyError
from services.billing.domain.model import Account, Balance, Ledger, Reservation

R = TypeVar("R")
MAX_ATTEMPTS = 12
MAX_BATCH_JOBS = 256


class ReservationLoader(Protocol):
    async def load(self, message_ids: Iterable[str]) -> dict[str, Reservation]: ...


@dataclass
class _Job(Generic[R]):
    message_ids: Sequence[str]
    change: Callable[[Account], R]
    done: asyncio.Future[R]


class Accounts:
    def __init__(self, ledgers: Repository[Ledger], reservations: ReservationLoader,
                 max_attempts: int = MAX_ATTEMPTS) -> None:
        self._ledgers = ledgers
        self._reservations = reservations
        self._max_attempts = max_attempts
        self._queues: dict[int, deque[_Job[Any]]] = {}
        self._drainers: dict[int, asyncio.Task[None]] = {}

    async def balance(self, user_id: int) -> Balance:
        return (await self._ledgers.get(str(user_id))).balance()

    async def change(self, user_id: int, message_ids: Sequence[str],
                     change: Callable[[Account], R]) -> R:
        """Apply `change` to the user's account (loaded with `message_ids`) and save it.

        `change` must check its rules before recording events: when it raises a domain
        error, the caller gets the error and the rest of the batch goes on.
        """
        job: _Job[R] = _Job(message_ids, change, asyncio.get_running_loop().create_future())
        self._queues.setdefault(user_id, deque()).append(job)
        if user_id not in self._drainers:
            self._drainers[user_id] = asyncio.create_task(self._drain(user_id))
        return await job.done

    async def _drain(self, user_id: int) -> None:
        try:
            while jobs := self._take(user_id):
                await self._settle(user_id, jobs)
        finally:
            del self._drainers[user_id]
            for job in self._queues.pop(user_id, ()):
                job.done.cancel()

    def _take(self, user_id: int) -> list[_Job[Any]]:
        queue = self._queues.get(user_id)
        if not queue:
            self._queues.pop(user_id, None)
            return []
        return [queue.popleft() for _ in range(min(len(queue), MAX_BATCH_JOBS))]

    async def _settle(self, user_id: int, jobs: list[_Job[Any]]) -> None:
        try:
            outcomes = await self._write(user_id, jobs)
        except asyncio.CancelledError:
            for job in jobs:
                job.done.cancel()
            raise
        except Exception as exc:
            outcomes = [exc] * len(jobs)
        for job, outcome in zip(jobs, outcomes, strict=True):
            if job.done.done():
                continue
            if isinstance(outcome, Exception):
                job.done.set_exception(outcome)
            else:
                job.done.set_result(outcome)

    async def _write(self, user_id: int, jobs: list[_Job[Any]]) -> list[Any]:
        message_ids = [m for job in jobs for m in job.message_ids]
        for attempt in range(self._max_attempts):
            ledger = await self._ledgers.get(str(user_id))
            account = Account(ledger, await self._reservations.load(message_ids))
            outcomes = [_apply(job.change, account) for job in jobs]
            changed = account.changed()
            try:
                if changed:
                    await self._ledgers.save(*changed)
                return outcomes
            except ConcurrencyError:
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise LedgerBusyError()


def _apply(change: Callable[[Account], R], account: Account) -> R | DomainError:
    try:
        return change(account)
    except DomainError as exc:
        return exc
