"""How background loops (relay, consumers, workers) ride out a failure: log it once per
try, quietly when it is only the store being out of reach, and wait longer after each
failure in a row, so a database outage is waited out instead of killing the loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from kernel.db import is_outage
from kernel.waits import Backoff

T = TypeVar("T")


def report(log: logging.Logger, what: str, error: BaseException) -> None:
    """Log a failed try of `what`: one line when the store is unavailable (it is expected
    to come back), the whole traceback for anything else."""
    if is_outage(error):
        log.warning("%s: database unavailable (%s: %s); retrying", what,
                    type(error).__name__, str(error).splitlines()[0] if str(error) else "")
    else:
        log.error("%s failed; retrying", what, exc_info=error)


async def outlasting_outage(action: Callable[[], Awaitable[T]], what: str,
                            log: logging.Logger, give_up_after: float = 300.0) -> T:
    """`action()`, tried again (with backoff) for as long as the store is unavailable, up
    to `give_up_after` seconds; any other error, or the last one, is raised. For work that
    has no one to redeliver it, such as a receipt reported by a transport."""
    backoff = Backoff()
    deadline = asyncio.get_running_loop().time() + give_up_after
    while True:
        try:
            return await action()
        except Exception as exc:
            if not is_outage(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            report(log, what, exc)
        await backoff.pause()
