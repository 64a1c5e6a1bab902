"""Whether numbers are on WhatsApp (app/contacts.py): asked through a live pool device
of the simulator, answers kept for the TTL and asked again after it, unknowns (no live
device to ask) never kept."""

from __future__ import annotations

import pytest

from services.device.adapters.simulator import SimulatorTransport
from services.device.app.contacts import check_numbers
from services.device.app.devices import DeviceDeps
from services.device.app.live import LiveDevice, LiveDevices
from services.device.app.number_cache import NumberCache
from services.device.domain.commands import CheckNumbers
from services.device.domain.errors import InvalidPhoneNumberError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def deps(clock):
    sim = SimulatorTransport()
    pairing = await sim.start_pairing("pool-1")
    await sim.scan(pairing.pairing_ref, "15550100001")
    deps = DeviceDeps(devices=None, transport=sim, live=LiveDevices(),  # type: ignore[arg-type]
                      clock=None, numbers=NumberCache(60.0, clock=clock))  # type: ignore[arg-type]
    yield deps
    await sim.close()


async def test_answers_are_kept_for_the_ttl(deps, clock):
    cache = deps.numbers
    unknown = await check_numbers(CheckNumbers(("27821234567",)), deps)
    assert unknown == [("27821234567", None)] and cache.asked == 0  # no live device here
    deps.live.up(LiveDevice("pool-1", pooled=True, phone_number="15550100001"))
    asked = await check_numbers(CheckNumbers(("+27821234567", "27820000000")), deps)
    assert asked == [("27821234567", True), ("27820000000", False)] and cache.asked == 2
    clock.now += 59
    again = await check_numbers(CheckNumbers(("27820000000", "27821234567")), deps)
    assert again == [("27820000000", False), ("27821234567", True)] and cache.asked == 2
    clock.now += 2
    await check_numbers(CheckNumbers(("27820000000",)), deps)
    assert cache.asked == 3  # expired: asked again


async def test_a_down_session_answers_unknown_and_nothing_is_kept(deps):
    deps.live.up(LiveDevice("pool-1", pooled=True, phone_number="15550100001"))
    await deps.transport.logout("pool-1")  # the far side no longer has the session
    assert await check_numbers(CheckNumbers(("27821234567",)), deps) == [
        ("27821234567", None)]
    assert deps.numbers.known(["27821234567"]) == {}


async def test_bad_numbers_and_too_many_are_refused(deps):
    with pytest.raises(InvalidPhoneNumberError, match="Invalid phone number: 12"):
        await check_numbers(CheckNumbers(("27821234567", "12")), deps)
    with pytest.raises(InvalidPhoneNumberError, match="1 to 50"):
        await check_numbers(CheckNumbers(tuple(f"2782123{n:04}" for n in range(51))), deps)


def test_a_ttl_of_zero_keeps_nothing():
    cache = NumberCache(0.0)
    cache.keep({"27821234567": True})
    assert cache.known(["27821234567"]) == {}


async def test_past_the_hourly_budget_numbers_are_unknown_until_the_hour_ends(deps, clock):
    deps.live.up(LiveDevice("pool-1", pooled=True, phone_number="15550100001"))
    cache = NumberCache(60.0, per_hour=2, clock=clock)
    limited = DeviceDeps(devices=None, transport=deps.transport,  # type: ignore[arg-type]
                         live=deps.live, clock=None, numbers=cache)  # type: ignore[arg-type]
    first = await check_numbers(CheckNumbers(("27821234561", "27821234562", "27820000000")),
                                limited)
    assert first == [("27821234561", True), ("27821234562", True), ("27820000000", None)]
    kept = await check_numbers(CheckNumbers(("27821234561", "27821234563")), limited)
    assert kept == [("27821234561", True), ("27821234563", None)]  # kept ones still answer
    assert cache.asked == 2
    clock.now += 3600
    later = await check_numbers(CheckNumbers(("27820000000",)), limited)
    assert later == [("27820000000", False)] and cache.asked == 3
