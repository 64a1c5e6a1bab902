"""Charging a send, the one path every send takes: note the charge, reserve it, queue
the messages. A charge whose messages were not queued is given back through the
reservation journal (`Reservations.give_back`), at once or, if billing or the store
cannot take it now, on a later sweep; the note is in the store before the reserve goes
out, so a process that dies in between strands nothing either."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from kernel.eventstore import ConcurrencyError
from services.messaging.app.dependencies import (
    Charge,
    DevicePool,
    Messages,
    PoolStatus,
    Reservations,
)
from services.messaging.domain.errors import PoolEmptyError, RefusedByServiceError

T = TypeVar("T")


async def usable_pool(pool: DevicePool, messages: Messages, first_id: str,
                      seeded: bool) -> PoolStatus:
    """The pool's figures; PoolEmptyError, before anything is charged, when no device of
    it could ever take a pool message (none linked). A seeded send whose first message is
    queued already is an earlier run of this same request (an idempotent retry after a
    lost answer): it is answered again as it was, whatever the pool is now."""
    status = await pool.status()
    if status.empty and not (seeded and await messages.queued(first_id)):
        raise PoolEmptyError(status.transport)
    return status


async def charge_and_queue(reservations: Reservations, charge: Charge,
                           reserve: Callable[[], Awaitable[T]],
                           queue: Callable[[], Awaitable[None]], seeded: bool = False,
                           unqueued: str = "message could not be queued") -> T:
    """Reserve (idempotent by message id), then queue; what `reserve` answered. A seeded
    send already queued was queued by an earlier run of this same request: its answer
    again, nothing new. `unqueued` is the reason a failed queueing's release gives."""
    note = await reservations.note(charge)
    try:
        held = await reserve()
    except RefusedByServiceError:
        await reservations.forget(note)  # refused: nothing is held
        raise
    except Exception:
        # Timed out or cut off: the reserve may have happened. Releasing an id billing
        # does not know is a no-op, so give it back rather than leave it held.
        await reservations.give_back(note, "reservation outcome unknown")
        raise
    try:
        await queue()
    except ConcurrencyError:
        if not seeded:
            await reservations.give_back(note, unqueued)
            raise
    except Exception:
        await reservations.give_back(note, unqueued)
        raise
    return held
