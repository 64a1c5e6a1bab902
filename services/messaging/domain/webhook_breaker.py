"""The circuit breaker of one webhook endpoint: after `threshold` failures in a row it
opens for a cool-down (doubling each time it opens again, up to `cap`), during which
the endpoint is not tried at all; then one delivery at a time probes it, and the first
success closes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class Breaker:
    threshold: int = 5
    cool_down: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    failures: int = 0
    opened: int = 0
    open_until: datetime | None = None

    def held_until(self, now: datetime) -> datetime | None:
        """Until when the endpoint is skipped, while the breaker is open."""
        return self.open_until if self.open_until is not None and now < self.open_until \
            else None

    def room(self, now: datetime, normal: int) -> int:
        """How many deliveries the endpoint may have in flight now."""
        if self.held_until(now) is not None:
            return 0
        return 1 if self.failures >= self.threshold else normal

    def succeeded(self) -> None:
        self.failures, self.opened, self.open_until = 0, 0, None

    def failed(self, now: datetime) -> datetime | None:
        """Count a failure; when this opens the breaker, until when it stays open."""
        self.failures += 1
        already_open = self.open_until is not None and now < self.open_until
        if self.failures < self.threshold or already_open:
            return None
        pause = min(self.cool_down * 2 ** min(self.opened, 30), max(self.cap, self.cool_down))
        self.opened += 1
        self.open_until = now + pause
        return self.open_until
