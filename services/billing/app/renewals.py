"""The renewal worker's pass: every subscription whose quota period has ended is brought
up to now (next period, auto-renewal or expiry), so those events exist even when nobody
sends or looks."""

from __future__ import annotations

import asyncio

from services.billing.app.dependencies import BillingDeps
from services.billing.app.quota_handlers import roll_over
from services.billing.domain.commands import RollOver, RollOverDue

MAX_PAGES = 50


async def roll_over_due(cmd: RollOverDue, deps: BillingDeps) -> int:
    """Returns how many subscriptions were brought up to now."""
    done = 0
    for _ in range(MAX_PAGES):
        due = await deps.index.due(deps.subscriptions.now(), cmd.page)
        await asyncio.gather(*(roll_over(RollOver(instance_id), deps) for instance_id in due))
        done += len(due)
        if len(due) < cmd.page:
            break
    return done
