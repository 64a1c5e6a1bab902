"""Changes to units written in groups: one transaction for many callers.

A unit is what one change works on: an aggregate, or an aggregate together with rows it
is loaded with (billing's account: a ledger and the holds of the message ids a change
names). Callers queue a change for a unit and await its outcome; the first group waits a
few loop turns for the callers a burst has under way (kernel/gathering.py
`let_callers_join`), and while one group is being written the next one gathers. A group
loads every unit it touches once (the store's `load` takes each key with the related ids
of all its changes), applies the changes in arrival order and saves them in one
transaction: on SQLite one writer and one commit instead of many contending for the lock;
on PostgreSQL one table lock instead of one per caller.

If another process wrote one of the same streams first, the save fails with
ConcurrencyError; the group is then written unit by unit, each reloaded and applied
again under the kernel's one retry policy (kernel/changes.py), so one contended unit
does not hold back the rest. A unit still contended after every try fails its callers
with the service's own "try again shortly" error.

Group commit (kernel/groupcommit.py) shares transactions between saves already decided;
this shares the whole load-decide-save.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from kernel.changes import retrying
from kernel.errors import DomainError
from kernel.eventstore import ConcurrencyError
from kernel.gathering import let_callers_join, settle

K = TypeVar("K", bound=Hashable)
U = TypeVar("U")
R = TypeVar("R")
MAX_GROUP_JOBS = 1024


class UnitStore(Protocol[K, U]):
    async def load(self, wanted: dict[K, list[str]]) -> dict[K, U]:
        """The units of these keys, each with the related ids listed for it."""

    async def save(self, units: Sequence[U]) -> None: ...


@dataclass
class _Job(Generic[K, R]):
    key: K
    related: Sequence[str]
    change: Callable[[Any], R]
    done: asyncio.Future[R]
    # the caller's context: its change runs in it, so the events it records carry the
    # caller's correlation id, not that of whoever writes the group
    caller: contextvars.Context = field(default_factory=contextvars.copy_context)


class GroupChange(Generic[K, U]):
    def __init__(self, store: UnitStore[K, U], busy: type[Exception]) -> None:
        self._store = store
        self._busy = busy
        self._queue: deque[_Job[K, Any]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    async def change(self, key: K, related: Sequence[str], change: Callable[[U], R]) -> R:
        """Apply `change` to the unit `key` (loaded with `related`) and save it. `change`
        must check its rules before recording events: when it raises a domain error, its
        caller gets the error and the rest of the group goes on."""
        job: _Job[K, R] = _Job(key, related, change,
                               asyncio.get_running_loop().create_future())
        self._queue.append(job)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await job.done

    async def _drain(self) -> None:
        try:
            await let_callers_join()
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
            settle(job.done, outcome)

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
            return await retrying(lambda: self._attempt(jobs), busy=self._busy)
        except self._busy as busy:
            return [busy] * len(jobs)

    async def _attempt(self, jobs: list[_Job[K, Any]]) -> list[Any]:
        wanted: dict[K, list[str]] = defaultdict(list)
        for job in jobs:
            wanted[job.key].extend(job.related)
        units = await self._store.load(wanted)
        outcomes = [_apply(job, units[job.key]) for job in jobs]
        await self._store.save(list(units.values()))
        return outcomes


def _apply(job: _Job[K, R], unit: Any) -> R | DomainError:
    try:
        return job.caller.run(job.change, unit)
    except DomainError as exc:
        return exc
