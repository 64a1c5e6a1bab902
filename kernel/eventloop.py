"""The event loop a long-running Switchboard process runs on: uvloop's where it is
installed (a dependency everywhere but Windows, which uvloop is not built for), else
asyncio's own.

uvloop runs the same asyncio code on a loop whose scheduling, timers and socket
transports are written in C. With the rest of the all-in-one process lean, those are a
visible share of a message: under single sends at c=64 the process spent 0.80 ms of CPU a
message on it against 0.84 on asyncio's loop, and p99 fell from 92–113 ms to 86–94
(docs/performance.md, "Seventeenth wave"). The gateway in a process of its own gets the
same loop from uvicorn (`loop="auto"` takes uvloop when it is installed), as does the
bench's bare baseline server. The operator's commands (`switchboard status`,
`switchboard projections rebuild`, ...) keep `asyncio.run`: a rebuild, the only long
one, measured the same on either loop (its reader parses NATS's messages itself)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a process's main coroutine to its end, as `asyncio.run` does."""
    try:
        import uvloop
    except ImportError:  # Windows
        return asyncio.run(main)
    return uvloop.run(main)
