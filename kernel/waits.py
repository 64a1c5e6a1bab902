"""Waiting for an event or a time limit, whichever comes first: how every background loop
sleeps between passes and wakes at once when it is stopped or told there is work; and
how long it waits between tries of something that keeps failing (`Backoff`)."""

from __future__ import annotations

import asyncio


async def waited(*events: asyncio.Event, seconds: float) -> bool:
    """Until any of `events` is set or `seconds` have passed; True if one was set."""
    if len(events) == 1:
        try:
            await asyncio.wait_for(events[0].wait(), seconds)
        except TimeoutError:
            return False
        return True
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waits, timeout=seconds,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    return bool(done)


class Backoff:
    """Waits between tries: `first` seconds, doubling up to `most`; a success resets it."""

    def __init__(self, first: float = 0.5, most: float = 10.0) -> None:
        self.first = first
        self.most = most
        self.delay = first

    def reset(self) -> None:
        self.delay = self.first

    def next_delay(self) -> float:
        """The wait before the next try; the one after will be twice as long (capped)."""
        delay, self.delay = self.delay, min(self.delay * 2, self.most)
        return delay

    async def pause(self, stop: asyncio.Event | None = None) -> None:
        """Sleep the next delay, or less if `stop` is set meanwhile."""
        delay = self.next_delay()
        if stop is None:
            await asyncio.sleep(delay)
            return
        await waited(stop, seconds=delay)
