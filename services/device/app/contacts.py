"""Whether numbers are on WhatsApp: asked through a live device's session (whatsmeow's
IsOnWhatsApp; the simulator's rule; the Cloud API cannot say), and kept for a while
(services/device/app/number_cache.py), since WhatsApp frowns on numbers that look many numbers up.

An answer is True, False, or None (unknown: no live device here to ask, the far side
did not answer, the transport cannot tell, or this hour's look-ups are spent). Unknowns
are not kept."""

from __future__ import annotations

from collections.abc import Sequence

from services.device.app.devices import DeviceDeps, wired
from services.device.app.linking import phone_digits
from services.device.app.transport import TransportError
from services.device.domain.commands import CheckNumbers
from services.device.domain.errors import InvalidPhoneNumberError

MAX_NUMBERS = 50
Answers = list[tuple[str, bool | None]]


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
