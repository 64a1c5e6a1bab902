"""Core NATS subscriptions held while anyone needs them: subscribed by the first holder
(and flushed, so the server routes to it when `hold` returns), dropped by the last, so a
process that nobody is waiting in receives and decodes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg


class HeldSubscription:
    def __init__(self, nc: NATS, subjects: Sequence[str],
                 on_msg: Callable[[Msg], Awaitable[None]]) -> None:
        self._nc = nc
        self._subjects = list(subjects)
        self._on_msg = on_msg
        self._subs: list[Any] = []
        self._holders = 0
        self._lock = asyncio.Lock()

    async def hold(self) -> None:
        """Count one more holder; subscribed once this returns."""
        self._holders += 1
        try:
            async with self._lock:
                if not self._subs:
                    self._subs = [await self._nc.subscribe(s, cb=self._on_msg)
                                  for s in self._subjects]
                    await self._nc.flush()
        except BaseException:
            self._holders -= 1
            raise

    async def release(self) -> None:
        """One holder fewer (counted at once, even if this call is being cancelled);
        the last one unsubscribes."""
        self._holders -= 1
        async with self._lock:
            if self._holders == 0 and self._subs:
                subs, self._subs = self._subs, []
                for sub in subs:
                    await sub.unsubscribe()
