"""Answers to "is this number on WhatsApp", kept a while, and how many numbers may still
be asked this hour (services/device/app/contacts.py asks)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence


class NumberCache:
    """Known answers for `ttl` seconds (0: none kept), at most `size` numbers; and at
    most `per_hour` numbers asked of WhatsApp in each hour (0: no limit)."""

    def __init__(self, ttl: float, per_hour: int = 0, size: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.per_hour, self.size, self.clock = ttl, per_hour, size, clock
        self._known: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        self._hour = (clock(), 0)  # when this hour's count started, numbers asked in it
        self.asked = 0  # numbers asked of a transport, for operators and tests

    def allowance(self, wanted: int) -> int:
        """How many of `wanted` numbers may be asked now; counted as asked."""
        started, spent = self._hour
        if self.clock() - started >= 3600:
            started, spent = self.clock(), 0
        allowed = wanted if not self.per_hour else max(0, min(wanted, self.per_hour - spent))
        self._hour = (started, spent + allowed)
        self.asked += allowed
        return allowed

    def known(self, numbers: Sequence[str]) -> dict[str, bool]:
        now, found = self.clock(), {}
        for number in numbers:
            kept = self._known.get(number)
            if kept is not None and kept[0] > now:
                found[number] = kept[1]
        return found

    def keep(self, answers: dict[str, bool | None]) -> None:
        until = self.clock() + self.ttl
        for number, on in answers.items():
            if on is not None and self.ttl > 0:
                self._known[number] = (until, on)
                self._known.move_to_end(number)
        while len(self._known) > self.size:
            self._known.popitem(last=False)
