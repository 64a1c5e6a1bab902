"""Group commit over a real store (SQLite and PostgreSQL): concurrent saves share
transactions, and each one still succeeds or fails on its own, as if written alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel import context
from kernel.eventstore import ConcurrencyError, EventStore, NewEvent, StreamWrite
from kernel.gathering import GATHER_TURNS
from kernel.groupcommit import GroupCommit, Joined

rows = Table("group_commit_rows", MetaData(), Column("key", String(64), primary_key=True))


def write(stream: str, expected: int = 0, *types: str) -> StreamWrite:
    return StreamWrite(stream, expected, [NewEvent(t, t.encode()) for t in types or ("Made",)])


def row(key: str):
    async def extra(conn: AsyncConnection) -> None:
        await conn.execute(insert(rows).values(key=key))
    return extra


class KeyWrites:
    """A joined extra's `write`: inserts its keys, noting the keys of each call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def __call__(self, conn: AsyncConnection, items: list[str]) -> None:
        self.calls.append(list(items))
        await conn.execute(insert(rows), [{"key": k} for k in items])


@pytest.fixture
async def group(store: EventStore) -> GroupCommit:
    async with store.engine.begin() as conn:
        await conn.run_sync(rows.metadata.create_all)
    return GroupCommit(store)


async def keys(store: EventStore) -> set[str]:
    async with store.engine.connect() as conn:
        return set((await conn.execute(select(rows.c.key))).scalars())


async def test_concurrent_saves_share_one_transaction(store, group, unique):
    streams = [f"s-{unique}-{i}" for i in range(40)]
    await asyncio.gather(*(group.save([write(s)], row(s)) for s in streams))
    assert group.transactions == 1
    for s in streams:
        assert [e.event_type for e in await store.read_stream(s)] == ["Made"]
    assert await keys(store) == set(streams)


@pytest.mark.parametrize("gather_turns", [GATHER_TURNS, 0])
async def test_callers_a_few_loop_turns_behind_join_the_first_batch(store, group, unique,
                                                                    gather_turns):
    group.gather_turns = gather_turns

    async def after(turns: int, stream: str) -> None:
        for _ in range(turns):  # a request a step or two behind the first of its burst
            await asyncio.sleep(0)
        await group.save([write(stream)], row(stream))

    streams = [f"s-{unique}-{i}" for i in range(6)]
    await asyncio.gather(*(after(i % 3, s) for i, s in enumerate(streams)))
    assert (group.transactions == 1) == (gather_turns > 0)  # else the first went alone
    assert await keys(store) == set(streams)


async def test_a_conflicting_save_fails_alone(store, group, unique):
    taken = f"s-{unique}-taken"
    await store.append(taken, 0, [NewEvent("Earlier", b"")])
    others = [f"s-{unique}-{i}" for i in range(5)]
    results = await asyncio.gather(group.save([write(taken)], row(taken)),
                                   *(group.save([write(s)], row(s)) for s in others),
                                   return_exceptions=True)
    assert isinstance(results[0], ConcurrencyError)
    assert results[1:] == [None] * 5
    assert [e.event_type for e in await store.read_stream(taken)] == ["Earlier"]
    assert await keys(store) == set(others)  # the failed save's row went with it


async def test_two_saves_to_one_stream_never_share_a_batch(store, group, unique):
    stream = f"s-{unique}"
    first, second = await asyncio.gather(group.save([write(stream, 0, "A")]),
                                         group.save([write(stream, 1, "B")]),
                                         return_exceptions=True)
    assert (first, second) == (None, None)
    assert group.transactions == 2
    assert [e.event_type for e in await store.read_stream(stream)] == ["A", "B"]


async def test_each_event_keeps_its_callers_correlation(store, group, unique):
    async def traced(i: int) -> None:
        context.begin(f"corr-{unique}-{i}", causation_id=f"cause-{i}")
        await group.save([write(f"s-{unique}-{i}")])

    await asyncio.gather(*(traced(i) for i in range(5)))
    assert group.transactions == 1
    for i in range(5):
        [event] = await store.read_stream(f"s-{unique}-{i}")
        assert (event.meta["correlation_id"], event.meta["causation_id"]) == (
            f"corr-{unique}-{i}", f"cause-{i}")


async def test_any_other_failure_fails_the_batch_and_applies_nothing(store, group, unique):
    async def broken(conn: AsyncConnection) -> None:
        raise RuntimeError("disk on fire")

    streams = [f"s-{unique}-{i}" for i in range(3)]
    results = await asyncio.gather(group.save([write(streams[0])], broken),
                                   *(group.save([write(s)], row(s)) for s in streams[1:]),
                                   return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    for s in streams:
        assert await store.read_stream(s) == []
    assert await keys(store) == set()
    await group.save([write(streams[1])], row(streams[1]))  # the writer carries on
    assert await keys(store) == {streams[1]}


async def test_a_caller_that_goes_away_does_not_take_its_save_along(store, group, unique):
    stream = f"s-{unique}"
    caller = asyncio.create_task(group.save([write(stream)], row(stream)))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    for _ in range(100):
        if await store.read_stream(stream):
            break
        await asyncio.sleep(0.02)
    assert [e.event_type for e in await store.read_stream(stream)] == ["Made"]
    assert await keys(store) == {stream}


async def test_joined_extras_of_a_batch_are_written_by_one_call(store, group, unique):
    insert_keys = KeyWrites()
    streams = [f"s-{unique}-{i}" for i in range(12)]
    await asyncio.gather(*(group.save([write(s)], Joined(insert_keys, [s, f"{s}-b"]))
                           for s in streams), group.save([write(f"s-{unique}-own")]))
    assert group.transactions == 1
    assert len(insert_keys.calls) == 1
    assert sorted(insert_keys.calls[0]) == sorted([k for s in streams for k in (s, f"{s}-b")])
    assert await keys(store) == set(insert_keys.calls[0])


async def test_a_conflicting_save_takes_only_its_own_joined_items_out(store, group, unique):
    insert_keys = KeyWrites()
    taken = f"s-{unique}-taken"
    await store.append(taken, 0, [NewEvent("Earlier", b"")])
    others = [f"s-{unique}-{i}" for i in range(4)]
    results = await asyncio.gather(
        group.save([write(taken)], Joined(insert_keys, [taken])),
        *(group.save([write(s)], Joined(insert_keys, [s])) for s in others),
        return_exceptions=True)
    assert isinstance(results[0], ConcurrencyError)
    assert results[1:] == [None] * 4
    # the others are written again, each alone; the conflicting save's item never
    assert sorted(k for call in insert_keys.calls for k in call) == sorted(others)
    assert await keys(store) == set(others)
