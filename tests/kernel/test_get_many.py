"""Many aggregates loaded at once (Repository.get_many), over real stores on both
backends: one query catches every copy up with its stream, each caller's copy is its
own, and a copy only a rolled-back transaction saw is never a starting point."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.aggregate import Repository
from kernel.eventstore import EventStore
from tests.kernel.test_aggregate import CODEC, Ledger, ledger_id, save_then_roll_back


def ids_from(unique: str, n: int) -> list[str]:
    return [str(int(ledger_id(unique)) + k) for k in range(n)]


async def granted(store: EventStore, ids: Sequence[str], amount: int) -> None:
    repo = Repository(store, CODEC, Ledger)
    for lid in ids:
        ledger = await repo.get(lid)
        ledger.grant(amount)
        await repo.save(ledger)


async def test_get_many_loads_every_stream_and_catches_copies_up(store: EventStore,
                                                                  unique: str) -> None:
    ids = ids_from(unique, 3)
    await granted(store, ids[:2], 5)
    repo = Repository(store, CODEC, Ledger, cache_size=10)
    first = await repo.get_many(ids)
    assert [(first[i].version, first[i].available) for i in ids] == [(1, 5), (1, 5), (0, 0)]

    first[ids[0]].available = -999  # a caller's copy is its own
    first[ids[0]].reserved.append("not saved")
    other = Repository(store, CODEC, Ledger)
    theirs = await other.get(ids[1])
    theirs.reserve("theirs")
    await other.save(theirs)

    again = await repo.get_many([ids[1], ids[0], ids[1]])
    assert list(again) == [ids[1], ids[0]]
    assert (again[ids[0]].available, again[ids[0]].reserved) == (5, [])
    assert (again[ids[1]].version, again[ids[1]].reserved) == (2, ["theirs"])


async def test_get_many_does_not_start_from_a_copy_a_transaction_rolled_back(
        store: EventStore, engine: AsyncEngine, unique: str) -> None:
    lid = ledger_id(unique)
    await granted(store, [lid], 10)
    repo = Repository(store, CODEC, Ledger, cache_size=10)
    await save_then_roll_back(repo, engine, lid)
    found = (await repo.get_many([lid]))[lid]
    assert (found.version, found.available, found.reserved) == (1, 10, [])
