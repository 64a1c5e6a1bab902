"""Changes written in groups (kernel/groupchange.py), over real stores on both backends:
a group loads and saves once, a broken rule fails only its caller, and a group that met
another writer is written unit by unit under the kernel's retry policy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest

from kernel import changes, context
from kernel.aggregate import Repository, stream_id_of
from kernel.errors import InvalidRequestError
from kernel.eventstore import EventStore
from kernel.groupchange import GroupChange
from tests.kernel.test_aggregate import CODEC, Ledger, ledger_id
from tests.kernel.test_get_many import granted, ids_from


class Busy(Exception):
    pass


class Refused(InvalidRequestError):
    pass


class Ledgers:
    """Units that are ledgers alone, counting loads and saves. `between` is awaited
    between a load and its save (another process writing, say), `times` times."""

    def __init__(self, repo: Repository[Ledger]) -> None:
        self.repo = repo
        self.loads: list[dict[str, list[str]]] = []
        self.saves = 0
        self.between: Callable[[], Awaitable[None]] | None = None
        self.times = 0

    async def load(self, wanted: dict[str, list[str]]) -> dict[str, Ledger]:
        self.loads.append(wanted)
        return await self.repo.get_many(wanted)

    async def save(self, units: Sequence[Ledger]) -> None:
        if self.between is not None and self.times > 0:
            self.times -= 1
            await self.between()
        self.saves += 1
        await self.repo.save(*units)


def another_writer(store: EventStore, lid: str, act: Callable[[Ledger], None]
                   ) -> Callable[[], Awaitable[None]]:
    other = Repository(store, CODEC, Ledger)

    async def write() -> None:
        theirs = await other.get(lid)
        act(theirs)
        await other.save(theirs)

    return write


def reserve(message_id: str) -> Callable[[Ledger], int]:
    def apply(ledger: Ledger) -> int:
        if ledger.available < 1:
            raise Refused("no credits")
        ledger.reserve(message_id)
        return ledger.available

    return apply


async def one_ledger(store: EventStore, unique: str, credits: int
                     ) -> tuple[str, Ledgers, GroupChange[str, Ledger]]:
    """A ledger granted `credits`, its counted units and a group over them."""
    lid = ledger_id(unique)
    await granted(store, [lid], credits)
    units = Ledgers(Repository(store, CODEC, Ledger, cache_size=10))
    return lid, units, GroupChange(units, Busy)


async def test_a_group_loads_once_saves_once_and_applies_in_arrival_order(
        store: EventStore, unique: str) -> None:
    lid, units, group = await one_ledger(store, unique, 3)
    results = await asyncio.gather(
        *(group.change(lid, [f"m-{n}"], reserve(f"m-{n}")) for n in range(5)),
        return_exceptions=True)
    assert results[:3] == [2, 1, 0]
    assert all(isinstance(r, Refused) for r in results[3:])
    assert units.loads == [{lid: [f"m-{n}" for n in range(5)]}]
    assert units.saves == 1
    stored = await Repository(store, CODEC, Ledger).get(lid)
    assert (stored.available, stored.reserved) == (0, ["m-0", "m-1", "m-2"])


async def test_callers_a_few_loop_turns_behind_join_the_first_group(
        store: EventStore, unique: str) -> None:
    lid, units, group = await one_ledger(store, unique, 6)

    async def after(turns: int, message_id: str) -> int:
        for _ in range(turns):  # a request a step or two behind the first of its burst
            await asyncio.sleep(0)
        return await group.change(lid, [message_id], reserve(message_id))

    await asyncio.gather(*(after(n % 3, f"m-{n}") for n in range(6)))
    assert units.saves == 1
    assert sorted(units.loads[0][lid]) == [f"m-{n}" for n in range(6)]


async def test_a_group_that_met_another_writer_is_written_unit_by_unit(
        store: EventStore, unique: str) -> None:
    ids = ids_from(unique, 2)
    await granted(store, ids, 2)
    units = Ledgers(Repository(store, CODEC, Ledger, cache_size=10))
    group = GroupChange(units, Busy)
    units.between, units.times = another_writer(store, ids[0], lambda t: t.reserve("theirs")), 1
    results = await asyncio.gather(
        group.change(ids[0], ["a"], reserve("a")), group.change(ids[0], ["b"], reserve("b")),
        group.change(ids[1], ["c"], reserve("c")), return_exceptions=True)
    assert isinstance(results[1], Refused)  # decided again after "theirs" took a credit
    assert results[0] == 0 and results[2] == 1
    assert units.saves == 3  # the group's (which failed), then one for each ledger
    first = await Repository(store, CODEC, Ledger).get(ids[0])
    second = await Repository(store, CODEC, Ledger).get(ids[1])
    assert (first.reserved, second.reserved) == (["theirs", "a"], ["c"])


async def test_a_unit_contended_past_every_try_fails_with_the_busy_error(
        store: EventStore, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes, "TRIES", 3)
    lid = ledger_id(unique)
    await granted(store, [lid], 10)
    units = Ledgers(Repository(store, CODEC, Ledger, cache_size=10))
    units.between, units.times = another_writer(store, lid, lambda t: t.grant(1)), 99
    with pytest.raises(Busy):
        await GroupChange(units, Busy).change(lid, ["m"], reserve("m"))
    stored = await Repository(store, CODEC, Ledger).get(lid)
    assert (stored.reserved, stored.available) == ([], 10 + 4)  # the group's try and 3 alone


async def test_each_changes_events_carry_its_callers_correlation_id(store: EventStore,
                                                                    unique: str) -> None:
    """Changes of one unit by three callers, saved in one group by whichever task writes
    it: each event is stamped with the context of the call that recorded it."""
    lid = ledger_id(unique)
    await granted(store, [lid], 3)
    group = GroupChange(Ledgers(Repository(store, CODEC, Ledger)), Busy)

    async def call(n: int) -> int:
        context.begin(f"caller-{n}")
        return await group.change(lid, [f"m{n}"], reserve(f"m{n}"))

    await asyncio.gather(*(call(n) for n in range(3)))
    stored = await store.read_stream(stream_id_of(Ledger, lid))
    by_message = {CODEC.decode(e).message_ids[0]: e.meta["correlation_id"]
                  for e in stored if e.event_type == "CreditsReserved"}
    assert by_message == {f"m{n}": f"caller-{n}" for n in range(3)}
