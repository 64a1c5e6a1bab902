"""The renewal worker's pass: every subscription whose quota period has ended is brought
up to now (next period, auto-renewal or expiry), so those events exist even when nobody
sends or looks."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from services.billing.app.quota_handlers import roll_over
from services.billing.app.subscriptions import Subscriptions

PAGE = 200
MAX_PAGES = 50


class DueSource(Protocol):
    async def due(self, now: datetime, limit: int) -> list[str]: ...


async def roll_over_due(subscriptions: Subscriptions, source: DueSource,
                        page: int = PAGE) -> int:
    """Returns how many subscriptions were brought up to now."""
    done = 0
    for _ in range(MAX_PAGES):
        due = await source.due(subscriptions.now(), page)
        await asyncio.gather(*(roll_over(instance_id, subscriptions) for instance_id in due))
        done += len(due)
        if len(due) < page:
            break
    return done
