"""Reconnecting dropped sessions: exponential backoff with jitter, one task per device."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """Attempt n waits min(cap, base * 2**n), jittered down by up to half ("equal
    jitter"), so devices that dropped together do not knock again together."""

    base: float = 0.5
    cap: float = 30.0
    attempts: int = 12

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * 2 ** attempt)
        return ceiling * rng.uniform(0.5, 1.0)


# One attempt: True when the session is up again (and recorded).
Attempt = Callable[[int], Awaitable[bool]]
GiveUp = Callable[[int], Awaitable[None]]


class Reconnects:
    def __init__(self, backoff: Backoff, sleep: Sleep = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self.backoff = backoff
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, device_id: str, attempt: Attempt, give_up: GiveUp) -> None:
        """Start reconnecting the device unless it is being reconnected already."""
        if device_id in self._tasks:
            return
        task = asyncio.create_task(self._run(device_id, attempt, give_up))
        self._tasks[device_id] = task
        task.add_done_callback(lambda t: self._forget(device_id, t))

    def active(self, device_id: str) -> bool:
        return device_id in self._tasks

    def cancel(self, device_id: str) -> None:
        task = self._tasks.pop(device_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self, device_id: str, attempt: Attempt, give_up: GiveUp) -> None:
        try:
            for n in range(self.backoff.attempts):
                await self.sleep(self.backoff.delay(n, self.rng))
                if await attempt(n + 1):
                    return
            await give_up(self.backoff.attempts)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("device %s: reconnecting failed", device_id)

    def _forget(self, device_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(device_id) is task:
            del self._tasks[device_id]
