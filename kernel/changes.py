"""Load an aggregate, change it, save it; on a concurrent write, reload and decide again.

The one retry policy for optimistic concurrency: a save that lost the race to another
writer (ConcurrencyError) is tried again from the stream's new state, up to TRIES times,
with a tiny jittered pause between tries so writers that collided do not collide again.
Every try reloads and decides afresh, so a retry never repeats a stale decision.

Within one process, changes to one aggregate take turns (`change`): the second starts
from the first's saved state instead of losing the race to it and trying again (a device's
send and the far side's receipt for it, which arrive together, did so for every message).
Writers in other processes still meet as ConcurrencyError.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar

from kernel.aggregate import Aggregate
from kernel.eventstore import ConcurrencyError

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)

TRIES = 20
FIRST_PAUSE = 0.002  # seconds; doubles after each lost race, up to MOST_PAUSE
MOST_PAUSE = 0.05


class Repo(Protocol[A]):
    async def get(self, aggregate_id: str, *, trust_cache: bool = False) -> A: ...

    async def save(self, aggregate: A) -> None: ...


def pause_before(retry: int) -> float:
    """The jittered wait before retry number `retry` (0 for the first retry)."""
    return random.uniform(0, min(FIRST_PAUSE * 2 ** retry, MOST_PAUSE))


async def retrying(attempt: Callable[[], Awaitable[T]], *,
                   also: tuple[type[Exception], ...] = (),
                   busy: Callable[[], Exception] | None = None) -> T:
    """`attempt()` (a whole load-decide-save) again while another writer got there first,
    or while it fails with one of `also`. After TRIES lost races the last error is raised,
    or `busy()` in its place when given (a service's own "try again shortly")."""
    retried: tuple[type[Exception], ...] = (ConcurrencyError, *also)
    for retry in range(TRIES - 1):
        try:
            return await attempt()
        except retried:
            await asyncio.sleep(pause_before(retry))
    try:
        return await attempt()
    except retried as exc:
        if busy is None:
            raise
        raise busy() from exc


class KeyedLocks:
    """One lock per key, forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: Counter[Hashable] = Counter()

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


_changing = KeyedLocks()  # (repository, aggregate id): the changes under way here


async def change(repo: Repo[A], aggregate_id: str, apply: Callable[[A], None], *,
                 trust_cache: bool = False) -> A:
    """Apply one command to the aggregate's latest state; saves only if something changed.
    Changes to one aggregate through one repository in this process take turns.

    `trust_cache`: a try may start from the repository's cached copy without reading the
    stream; only for commands that move state forward, where a stale copy just fails to
    save (which drops it from the cache) and the retry reads the stream."""

    async def attempt() -> A:
        aggregate = await repo.get(aggregate_id, trust_cache=trust_cache)
        apply(aggregate)
        if aggregate.pending:
            await repo.save(aggregate)
        return aggregate

    async with _changing.hold((id(repo), aggregate_id)):
        return await retrying(attempt)
