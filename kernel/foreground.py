"""Requests whose callers wait on much work at once, and work that can wait for them.

A bulk send is accepted while its caller waits for every queue id; what earlier messages
bring back meanwhile (statuses into the history view, webhook fan-outs, settlements, the
quota view) is work nobody waits on at once. So while a bulk request is being accepted
(counted by the gateway from its arrival to its answer, gateway/foreground.py, and by
messaging while it reserves and queues, for callers over gRPC), a consumer that lingers
(kernel/consumer.py) takes its next batch only once no such request is in flight, or
`GAP_BOUND` seconds later at the most: the campaign is accepted first and its statuses
follow, a fraction of a second later, in fewer and larger batches. A consumer already
`BEHIND` (kernel/consumer.py) waits for nothing, so a long run of bulk sends cannot leave
a view further behind than that. Single sends do not count: sixty-four of them in
flight would hold every view back in turn and let it go in bursts, and their p99 rose by a
quarter (docs/performance.md, "Thirteenth wave"). In a process that accepts no bulk
request (the device's, a service of its own) nothing waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

# How long a lingering consumer waits at the most, after its linger, for a gap: its
# view is that much further behind while bulk sends are accepted back to back.
GAP_BOUND = 0.25


class Foreground:
    """A count of the requests being answered, and the waiters for it to reach 0."""

    def __init__(self, bound: float = GAP_BOUND) -> None:
        self.bound = bound  # how long `gap` waits at the most
        self.serving = 0
        self._waiters: list[asyncio.Future[None]] = []

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Counts a request from here until the block ends."""
        self.serving += 1
        try:
            yield
        finally:
            self.serving -= 1
            if not self.serving:
                self._release()

    def _release(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            _done(waiter)

    async def gap(self) -> None:
        """Return once no request is being answered, or after `bound` seconds at most."""
        if not self.serving or self.bound <= 0:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self.bound, _done, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)


def _done(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# One per process: the services of an all-in-one process share it.
FOREGROUND = Foreground()
