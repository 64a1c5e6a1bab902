"""Asks that share calls per key (kernel/gathering.py's `FreshAsks`): an ask never gets the
answer of a call that began before it arrived, asks that come during a call share the
next one, other keys are not held up, and failures and cancelled asks reach no one else."""

from __future__ import annotations

import asyncio

import pytest

from kernel.gathering import FreshAsks


class Directory:
    """What the calls read: a value that changes, and each call's opening and closing."""

    def __init__(self) -> None:
        self.value = "enabled"
        self.calls = 0
        self.release = asyncio.Event()
        self.opened = asyncio.Event()

    async def read(self) -> str:
        self.calls += 1
        seen = self.value  # read when the call begins, as auth reads its directory
        self.opened.set()
        await self.release.wait()
        return seen


async def _pending(asks: int = 1) -> None:
    for _ in range(asks * 5):
        await asyncio.sleep(0)


async def test_an_ask_during_a_call_gets_the_next_call_and_sees_a_change_made_before_it() -> None:
    asks, directory = FreshAsks(), Directory()
    first = asyncio.create_task(asks.ask("t", directory.read))
    await directory.opened.wait()
    directory.value = "disabled"  # committed after the first call read, before the others came
    later = [asyncio.create_task(asks.ask("t", directory.read)) for _ in range(5)]
    await _pending()
    assert directory.calls == 1  # the later asks wait for the call in flight to end
    directory.release.set()
    assert await first == "enabled"
    assert await asyncio.gather(*later) == ["disabled"] * 5
    assert directory.calls == 2  # the five shared one call


async def test_other_keys_are_not_held_up() -> None:
    asks, directory = FreshAsks(), Directory()
    held = asyncio.create_task(asks.ask("t", directory.read))
    await directory.opened.wait()
    assert await asks.ask("u", _answer("other")) == "other"
    directory.release.set()
    assert await held == "enabled"


async def test_a_failed_call_fails_the_asks_sharing_it_and_not_the_next() -> None:
    asks, directory = FreshAsks(), Directory()
    first = asyncio.create_task(asks.ask("t", directory.read))
    await directory.opened.wait()
    shared = [asyncio.create_task(asks.ask("t", _failing)) for _ in range(3)]
    directory.release.set()
    await first
    for each in shared:
        with pytest.raises(LookupError):
            await each
    assert await asks.ask("t", _answer("again")) == "again"


async def test_a_cancelled_ask_leaves_the_others_their_answer() -> None:
    asks, directory = FreshAsks(), Directory()
    first = asyncio.create_task(asks.ask("t", directory.read))
    await directory.opened.wait()
    gone, kept = (asyncio.create_task(asks.ask("t", directory.read)) for _ in range(2))
    await _pending()
    gone.cancel()
    first.cancel()  # the first ask's own call goes with it; the next round still runs
    directory.release.set()
    assert await kept == "enabled"
    assert gone.cancelled() and first.cancelled()
    assert await asks.ask("t", _answer("idle")) == "idle"  # nothing left busy


def _answer(value: str):  # type: ignore[no-untyped-def]
    async def call() -> str:
        return value

    return call


async def _failing() -> str:
    raise LookupError("auth said no")
