"""The one retry policy for optimistic concurrency (kernel/changes.py), over real stores
on both backends: concurrent changes all land, nothing is saved twice, a decision is
made again on the newest state, and a race lost TRIES times ends in the named error."""

from __future__ import annotations

import asyncio

import pytest

from kernel import changes
from kernel.aggregate import Repository
from kernel.changes import change, retrying
from kernel.eventstore import ConcurrencyError, EventStore
from tests.kernel.test_aggregate import CODEC, Ledger, NotEnoughCredits, ledger_id


class Busy(Exception):
    pass


def test_the_pause_is_tiny_jittered_and_capped() -> None:
    pauses = [changes.pause_before(n) for n in range(changes.TRIES) for _ in range(20)]
    assert all(0 <= p <= changes.MOST_PAUSE for p in pauses)
    assert len(set(pauses)) > 1
    assert max(changes.pause_before(0) for _ in range(50)) <= changes.FIRST_PAUSE


@pytest.mark.parametrize("cache_size", [0, 64])
async def test_concurrent_changes_all_land_once(store: EventStore, unique: str,
                                                cache_size: int) -> None:
    repo = Repository(store, CODEC, Ledger, cache_size=cache_size)
    lid = ledger_id(unique)
    await change(repo, lid, lambda ledger: ledger.grant(10))
    await asyncio.gather(*(change(repo, lid, lambda ledger, n=n: ledger.reserve(f"m-{n}"),
                                  trust_cache=True) for n in range(8)))
    ledger = await Repository(store, CODEC, Ledger).get(lid)
    assert ledger.available == 2
    assert sorted(ledger.reserved) == sorted(f"m-{n}" for n in range(8))
    assert ledger.version == 9


async def test_each_try_decides_again_on_the_newest_state(store: EventStore,
                                                          unique: str) -> None:
    """Ten writers race for seven credits: seven reserve, three are refused by the rule
    on the state they reloaded, none overdraws."""
    repo = Repository(store, CODEC, Ledger)
    lid = ledger_id(unique)
    await change(repo, lid, lambda ledger: ledger.grant(7))
    results = await asyncio.gather(
        *(change(repo, lid, lambda ledger, n=n: ledger.reserve(f"m-{n}")) for n in range(10)),
        return_exceptions=True)
    assert sum(isinstance(r, NotEnoughCredits) for r in results) == 3
    assert (await repo.get(lid)).available == 0


async def test_nothing_to_change_saves_nothing(store: EventStore, unique: str) -> None:
    repo = Repository(store, CODEC, Ledger)
    lid = ledger_id(unique)
    await change(repo, lid, lambda ledger: ledger.grant(1))
    unchanged = await change(repo, lid, lambda ledger: None)
    assert unchanged.version == 1
    assert len(await store.read_stream(f"ledger-{lid}")) == 1


async def test_a_race_lost_every_time_ends_in_the_last_error_or_busy() -> None:
    tries = 0

    async def always_lost() -> None:
        nonlocal tries
        tries += 1
        raise ConcurrencyError("moved on")

    with pytest.raises(ConcurrencyError):
        await retrying(always_lost)
    assert tries == changes.TRIES
    with pytest.raises(Busy) as raised:
        await retrying(always_lost, busy=Busy)
    assert isinstance(raised.value.__cause__, ConcurrencyError)
    assert tries == 2 * changes.TRIES


async def test_also_retries_the_named_errors_and_nothing_else() -> None:
    seen: list[str] = []

    async def collides_once() -> str:
        seen.append("try")
        if len(seen) == 1:
            raise KeyError("taken")
        return "done"

    assert await retrying(collides_once, also=(KeyError,)) == "done"
    assert len(seen) == 2
    seen.clear()
    with pytest.raises(KeyError):
        await retrying(collides_once)
    assert len(seen) == 1


async def test_changes_to_one_aggregate_in_one_process_take_turns(store: EventStore,
                                                                  unique: str) -> None:
    """Eight changes at once through one repository's cached copy: each starts from the
    one before it's saved state, so none loses a race and tries again (as a device's send
    and the far side's receipt for it did); across repositories they still race, and
    every change lands."""
    repo = Repository(store, CODEC, Ledger, cache_size=64)
    lid = ledger_id(unique)
    await change(repo, lid, lambda ledger: ledger.grant(20))
    saves, lost = 0, 0
    save = repo.save

    async def counted(*aggregates: Ledger, **kw: object) -> None:
        nonlocal saves, lost
        saves += 1
        try:
            await save(*aggregates, **kw)  # type: ignore[arg-type]
        except ConcurrencyError:
            lost += 1
            raise

    repo.save = counted  # type: ignore[method-assign]
    await asyncio.gather(*(change(repo, lid, lambda ledger, n=n: ledger.reserve(f"m-{n}"),
                                  trust_cache=True) for n in range(8)))
    assert (saves, lost) == (8, 0)
    other = Repository(store, CODEC, Ledger, cache_size=64)
    await asyncio.gather(*(change(r, lid, lambda ledger, n=n: ledger.reserve(f"o-{n}"),
                                  trust_cache=True)
                           for n, r in enumerate([repo, other] * 4)))
    ledger = await Repository(store, CODEC, Ledger).get(lid)
    assert ledger.available == 4 and ledger.version == 17
