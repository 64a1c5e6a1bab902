"""Waiting for whichever comes first of a few events, or a time limit: how the messaging
service's background loops sleep when idle and wake at once when told."""

from __future__ import annotations

import asyncio


async def first_set(*events: asyncio.Event, seconds: float) -> None:
    """Until any of `events` is set, or `seconds` have passed."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
