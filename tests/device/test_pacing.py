"""Per-device pacing: minimum gap, jitter, per-minute cap; least-loaded choice."""

from __future__ import annotations

import random

from services.device.app.pacing import Pacer, PacingPolicy


def wait(pacer: Pacer, device_id: str) -> float:
    """Take the device's next slot: how long from now until it starts."""
    return pacer.take(device_id) - pacer.clock()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_policy_means_no_wait():
    pacer = Pacer(PacingPolicy(), Clock())
    assert [wait(pacer, "d") for _ in range(5)] == [0.0] * 5


def test_minimum_gap_spaces_sends_of_one_device_only():
    pacer = Pacer(PacingPolicy(min_gap=2.0), Clock())
    assert [wait(pacer, "a") for _ in range(3)] == [0.0, 2.0, 4.0]
    assert wait(pacer, "b") == 0.0


def test_jitter_adds_a_random_part_within_bounds():
    pacer = Pacer(PacingPolicy(min_gap=1.0, jitter=0.5), Clock(), random.Random(7))
    wait(pacer, "a")
    gap = wait(pacer, "a")
    assert 1.0 <= gap <= 1.5
    again = Pacer(PacingPolicy(min_gap=1.0, jitter=0.5), Clock(), random.Random(7))
    wait(again, "a")
    assert wait(again, "a") == gap


def test_per_minute_cap_pushes_the_next_send_past_the_window():
    clock = Clock()
    pacer = Pacer(PacingPolicy(per_minute=3), clock)
    assert [wait(pacer, "a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert wait(pacer, "a") == 60.0
    clock.now += 61
    assert wait(pacer, "a") == 0.0


def test_least_loaded_prefers_the_device_free_soonest_then_the_least_busy():
    pacer = Pacer(PacingPolicy(min_gap=5.0), Clock())
    wait(pacer, "a")
    assert pacer.least_loaded(["a", "b"]) == "b"
    idle = Pacer(PacingPolicy(), Clock())
    wait(idle, "a")
    wait(idle, "b")
    wait(idle, "a")
    assert idle.least_loaded(["a", "b", "c"]) == "c"
    assert idle.least_loaded([]) is None


def test_least_loaded_compares_devices_at_one_instant():
    ticks = iter(range(1000))
    pacer = Pacer(PacingPolicy(), lambda: float(next(ticks)))
    chosen = []
    for _ in range(4):
        device = pacer.least_loaded(["a", "b"])
        assert device is not None
        wait(pacer, device)
        chosen.append(device)
    assert chosen == ["a", "b", "a", "b"]
