"""Whether numbers are on WhatsApp: asked through a live device's session (whatsmeow's
IsOnWhatsApp; the simulator's rule; the Cloud API cannot say), and kept for a while
(`NumberCache`), since WhatsApp frowns on numbers that look many numbers up.

An answer is True, False, or None (unknown: no live device here to ask, the far side
did not answer, the transport cannot tell, or this hour's look-ups are spent). Unknowns
are not kept."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from services.device.app.devices import DeviceDeps, wired
from services.device.app.linking import phone_digits
from services.device.app.transport import TransportError
from services.device.domain.commands import CheckNumbers
from services.device.domain.errors import InvalidPhoneNumberError

MAX_NUMBERS = 50
Answers = list[tuple[str, bool | None]]


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


def _numbers(raw: Sequence[str]) -> list[str]:
    if not 1 <= len(raw) <= MAX_NUMBERS:
        raise InvalidPhoneNumberError(f"Give 1 to {MAX_NUMBERS} numbers")
    return list(dict.fromkeys(phone_digits(n) for n in raw))


def _asking_device(cmd: CheckNumbers, deps: DeviceDeps) -> str:
    if cmd.device_id:
        return cmd.device_id if deps.live.get(cmd.device_id) else ""
    pooled = deps.live.pooled()
    return pooled[0].device_id if pooled else ""


async def check_numbers(cmd: CheckNumbers, deps: DeviceDeps) -> Answers:
    """Each distinct number (as digits, in order of first mention) and its answer."""
    numbers = _numbers(cmd.numbers)
    cache = wired(deps.numbers, "numbers")
    known: dict[str, bool | None] = dict(cache.known(numbers))
    missing = [n for n in numbers if n not in known]
    device_id = _asking_device(cmd, deps) if missing else ""
    if device_id:
        missing = missing[:cache.allowance(len(missing))]
    if missing and device_id:
        try:
            fresh = await deps.transport.on_whatsapp(device_id, missing)
        except TransportError:
            fresh = {}  # not up here after all, or no answer: unknown this time
        cache.keep(fresh)
        known.update(fresh)
    return [(n, known.get(n)) for n in numbers]
