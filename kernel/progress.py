"""How far a long replay has come, printed as it goes: events replayed of those expected,
the rate, and the time left.

`switchboard projections rebuild` sets a `Progress` as the current one (`reporting`);
kernel.projection's replay advances it batch by batch and a rebuild adds the events it
expects before it starts (`expect`), so every rebuild reports without passing it along.
Lines go to stderr at most once per `every` seconds, and once more at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO


class Progress:
    def __init__(self, name: str, out: TextIO | None = None, every: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.out = out or sys.stderr
        self.every = every
        self.clock = clock
        self.total = 0
        self.done = 0
        self.started = clock()
        self.shown = self.started

    def expect(self, events: int) -> None:
        self.total += events

    def advance(self, events: int) -> None:
        self.done += events
        now = self.clock()
        if now - self.shown >= self.every:
            self.shown = now
            self._show(now)

    def finish(self) -> None:
        self._show(self.clock())

    def line(self, now: float) -> str:
        took = max(now - self.started, 1e-9)
        rate = self.done / took
        left = max(self.total - self.done, 0)
        eta = f"{left / rate:.0f}s" if rate > 0 else "unknown"
        percent = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        return (f"{self.name}: {self.done}/{self.total} events replayed{percent}, "
                f"{rate:.0f}/s, ETA {eta}")

    def _show(self, now: float) -> None:
        print(self.line(now), file=self.out, flush=True)


_current: ContextVar[Progress | None] = ContextVar("replay_progress", default=None)


def current() -> Progress | None:
    return _current.get()


@contextmanager
def reporting(progress: Progress) -> Iterator[Progress]:
    """Make `progress` the one replays in this context advance; its last line once the
    work ends well."""
    token = _current.set(progress)
    try:
        yield progress
    finally:
        _current.reset(token)
    progress.finish()
