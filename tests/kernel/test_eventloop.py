"""The loop long-running processes run on (kernel/eventloop.py): uvloop's, installed with
the package on this platform, running a main coroutine to its end as asyncio.run does."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from kernel import eventloop


def test_a_main_coroutine_runs_on_uvloop_and_gives_its_result() -> None:
    async def main() -> tuple[bool, int]:
        await asyncio.sleep(0.01)
        thread_result = await asyncio.to_thread(sum, [1, 2, 3])
        return isinstance(asyncio.get_running_loop(), uvloop.Loop), thread_result

    assert eventloop.run(main()) == (True, 6)


def test_a_failing_main_raises_its_error_and_the_loop_is_closed() -> None:
    seen: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        seen.append(asyncio.get_running_loop())
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        eventloop.run(main())
    assert seen[0].is_closed()
