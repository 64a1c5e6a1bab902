"""Billing's periodic background work (the renewal worker); its consumers are declared
as subscriptions in bootstrap.py and run by the kernel's host."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kernel.waits import waited

log = logging.getLogger(__name__)

Worker = Callable[[asyncio.Event], Awaitable[None]]


def periodic(task: Callable[[], Awaitable[object]], seconds: float) -> Worker:
    """Run `task` every `seconds` until stopped; a failure is logged and retried."""

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await task()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic task %s failed", getattr(task, "__name__", task))
            await waited(stop, seconds=seconds)

    return run
