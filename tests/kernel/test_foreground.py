"""The foreground count and its gap (kernel/foreground.py), on a real event loop."""

from __future__ import annotations

import asyncio
import time

from kernel.foreground import Foreground


async def test_a_gap_comes_at_once_when_no_request_is_being_answered() -> None:
    foreground = Foreground(bound=5.0)
    started = time.monotonic()
    await foreground.gap()
    assert time.monotonic() - started < 0.5


async def test_a_gap_comes_when_the_last_request_being_answered_ends() -> None:
    """Two requests overlap: the gap waits for both, and comes as the second ends, long
    before its bound."""
    foreground = Foreground(bound=30.0)
    first, second = foreground.answering(), foreground.answering()
    first.__enter__()
    second.__enter__()
    waiting = asyncio.ensure_future(foreground.gap())
    await asyncio.sleep(0.3)
    first.__exit__(None, None, None)
    await asyncio.sleep(0.3)
    still_waiting_with_one_left = not waiting.done()
    started = time.monotonic()
    second.__exit__(None, None, None)
    await asyncio.wait_for(waiting, 5)
    assert still_waiting_with_one_left
    assert time.monotonic() - started < 1.0
    assert foreground.serving == 0


async def test_a_gap_comes_at_its_bound_while_requests_go_on() -> None:
    foreground = Foreground(bound=0.4)
    with foreground.answering():
        started = time.monotonic()
        await foreground.gap()
        waited = time.monotonic() - started
        assert foreground.serving == 1
    assert 0.35 <= waited < 2.0


async def test_a_request_that_fails_still_ends_its_count() -> None:
    foreground = Foreground(bound=30.0)
    waiting = None
    try:
        with foreground.answering():
            waiting = asyncio.ensure_future(foreground.gap())
            await asyncio.sleep(0.1)
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    assert waiting is not None
    await asyncio.wait_for(waiting, 5)
    assert foreground.serving == 0
