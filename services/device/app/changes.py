"""Load an aggregate, change it, save it; on a concurrent write, reload and decide again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from kernel.aggregate import Aggregate
from kernel.eventstore import ConcurrencyError

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)

TRIES = 8


class Repo(Protocol[A]):
    async def get(self, aggregate_id: str, *, trust_cache: bool = False) -> A: ...

    async def save(self, aggregate: A) -> None: ...


async def retrying(attempt: Callable[[], Awaitable[T]], tries: int = TRIES) -> T:
    for n in range(tries - 1):
        try:
            return await attempt()
        except ConcurrencyError:
            await asyncio.sleep(0.002 * (n + 1))
    return await attempt()


async def change(repo: Repo[A], aggregate_id: str, apply: Callable[[A], None],
                 trust_cache: bool = False) -> A:
    """Apply one command to the aggregate's latest state; saves only if something changed.

    `trust_cache`: the first try may start from the repository's cached copy without
    reading the stream; only for commands that move state forward, where a stale copy
    just fails to save and the retry reads the stream."""

    async def attempt() -> A:
        aggregate = await repo.get(aggregate_id, trust_cache=trust_cache)
        apply(aggregate)
        if aggregate.pending:
            await repo.save(aggregate)
        return aggregate

    return await retrying(attempt)
