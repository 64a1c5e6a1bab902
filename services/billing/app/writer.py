"""Changes to accounts, written in groups: one transaction for many callers.

Callers queue a change for an account (a user's credit account, an instance's quota
account) and await its outcome. While one group is being written the next one gathers.
A group loads every account it touches once (with the holds of all its message ids),
applies the changes in arrival order and appends everything in one transaction: on
SQLite one writer and one commit instead of many contending for the lock; on PostgreSQL
one table lock instead of one per caller.

If another process wrote one of the same streams first, the append fails with
ConcurrencyError; the group is then written account by account, each reloaded and
applied again under the kernel's one retry policy (kernel/changes.py), so one contended
account does not hold back the rest.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from kernel.changes import retrying
from kernel.errors import DomainError
from kernel.eventstore import ConcurrencyError
from services.billing.domain.errors import LedgerBusyError

K = TypeVar("K", bound=Hashable)
U = TypeVar("U")
R = TypeVar("R")
MAX_GROUP_JOBS = 1024


class UnitStore(Protocol[K, U]):
    async def load(self, wanted: dict[K, list[str]]) -> dict[K, U]: ...

    async def save(self, units: Sequence[U]) -> None: ...


@dataclass
class _Job(Generic[K, R]):
    key: K
    message_ids: Sequence[str]
    change: Callable[[Any], R]
    done: asyncio.Future[R]


class GroupWriter(Generic[K, U]):
    def __init__(self, store: UnitStore[K, U]) -> None:
        self._store = store
        self._queue: deque[_Job[K, Any]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    async def change(self, key: K, message_ids: Sequence[str], change: Callable[[U], R]) -> R:
        """Apply `change` to the account `key` (loaded with the holds of `message_ids`)
        and save it. `change` must check its rules before recording events: when it raises
        a domain error, its caller gets the error and the rest of the group goes on."""
        job: _Job[K, R] = _Job(key, message_ids, change,
                               asyncio.get_running_loop().create_future())
        self._queue.append(job)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await job.done

    async def _drain(self) -> None:
        try:
            while self._queue:
                jobs = [self._queue.popleft()
                        for _ in range(min(len(self._queue), MAX_GROUP_JOBS))]
                await self._settle(jobs)
        finally:
            self._drainer = None
            while self._queue:
                self._queue.popleft().done.cancel()

    async def _settle(self, jobs: list[_Job[K, Any]]) -> None:
        try:
            outcomes = await self._write_group(jobs)
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

    async def _write_group(self, jobs: list[_Job[K, Any]]) -> list[Any]:
        try:
            return await self._attempt(jobs)
        except ConcurrencyError:
            pass
        by_key: dict[K, list[int]] = defaultdict(list)
        for index, job in enumerate(jobs):
            by_key[job.key].append(index)
        outcomes: list[Any] = [None] * len(jobs)
        alone = await asyncio.gather(*(self._write_alone([jobs[i] for i in indexes])
                                       for indexes in by_key.values()))
        for indexes, results in zip(by_key.values(), alone, strict=True):
            for index, result in zip(indexes, results, strict=True):
                outcomes[index] = result
        return outcomes

    async def _write_alone(self, jobs: list[_Job[K, Any]]) -> list[Any]:
        try:
            return await retrying(lambda: self._attempt(jobs), busy=LedgerBusyError)
        except LedgerBusyError as busy:
            return [busy] * len(jobs)

    async def _attempt(self, jobs: list[_Job[K, Any]]) -> list[Any]:
        wanted: dict[K, list[str]] = defaultdict(list)
        for job in jobs:
            wanted[job.key].extend(job.message_ids)
        units = await self._store.load(wanted)
        outcomes = [_apply(job.change, units[job.key]) for job in jobs]
        await self._store.save(list(units.values()))
        return outcomes


def _apply(change: Callable[[Any], R], unit: Any) -> R | DomainError:
    try:
        return change(unit)
    except DomainError as exc:
        return exc
