"""The one wait for an event or a time limit (kernel/waits.py): it ends when the event is
set, not at the limit, says whether it was set, and leaves no waiter behind."""

from __future__ import annotations

import asyncio

from kernel.waits import waited


async def _set_later(event: asyncio.Event, seconds: float) -> None:
    await asyncio.sleep(seconds)
    event.set()


async def test_a_set_event_ends_the_wait_before_the_limit() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    setter = asyncio.create_task(_set_later(stop, 0.05))
    started = loop.time()
    assert await waited(stop, seconds=30) is True
    assert loop.time() - started < 5
    await setter


async def test_the_limit_ends_the_wait_when_nothing_is_set() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await waited(asyncio.Event(), seconds=0.05) is False
    assert loop.time() - started >= 0.04


async def test_an_event_already_set_answers_at_once() -> None:
    stop = asyncio.Event()
    stop.set()
    assert await waited(stop, seconds=30) is True


async def test_any_of_several_events_ends_the_wait() -> None:
    stop, told = asyncio.Event(), asyncio.Event()
    setter = asyncio.create_task(_set_later(told, 0.05))
    assert await waited(stop, told, seconds=30) is True
    assert told.is_set() and not stop.is_set()
    await setter
    assert await waited(asyncio.Event(), asyncio.Event(), seconds=0.05) is False


async def test_no_waiter_is_left_behind() -> None:
    before = len(asyncio.all_tasks())
    await waited(asyncio.Event(), asyncio.Event(), seconds=0.01)
    await asyncio.sleep(0)  # the cancelled waits finish
    assert len(asyncio.all_tasks()) == before
