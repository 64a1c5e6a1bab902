"""Waiting for an event or a time limit, whichever comes first: how every background loop
sleeps between passes and wakes at once when it is stopped or told there is work."""

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
