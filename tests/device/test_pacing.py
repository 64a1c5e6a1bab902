"""Per-device pacing: minimum gap, jitter, per-minute cap; least-loaded choice."""

from __future__ import annotations

import random

from services.device.app.pacing import Pacer, PacingPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_policy_means_no_wait():
    pacer = Pacer(PacingPolicy(), Clock())
    assert [pacer.reserve("d") for _ in range(5)] == [0.0] * 5


def test_minimum_gap_spaces_sends_of_one_device_only():
    pacer = Pacer(PacingPolicy(min_gap=2.0), Clock())
    assert [pacer.reserve("a") for _ in range(3)] == [0.0, 2.0, 4.0]
    assert pacer.reserve("b") == 0.0


def test_jitter_adds_a_random_part_within_bounds():
    pacer = Pacer(PacingPolicy(min_gap=1.0, jitter=0.5), Clock(), random.Random(7))
    pacer.reserve("a")
    wait = pacer.reserve("a")
    assert 1.0 <= wait <= 1.5
    again = Pacer(PacingPolicy(min_gap=1.0, jitter=0.5), Clock(), random.Random(7))
    again.reserve("a")
    assert again.reserve("a") == wait


def test_per_minute_cap_pushes_the_next_send_past_the_window():
    clock = Clock()
    pacer = Pacer(PacingPolicy(per_minute=3), clock)
    assert [pacer.reserve("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.reserve("a") == 60.0
    clock.now += 61
    assert pacer.reserve("a") == 0.0


def test_least_loaded_prefers_the_device_free_soonest_then_the_least_busy():
    pacer = Pacer(PacingPolicy(min_gap=5.0), Clock())
    pacer.reserve("a")
    assert pacer.least_loaded(["a", "b"]) == "b"
    idle = Pacer(PacingPolicy(), Clock())
    idle.reserve("a")
    idle.reserve("b")
    idle.reserve("a")
    assert idle.least_loaded(["a", "b", "c"]) == "c"
    assert idle.least_loaded([]) is None


def test_least_loaded_compares_devices_at_one_instant():
    ticks = iter(range(1000))
    pacer = Pacer(PacingPolicy(), lambda: float(next(ticks)))
    chosen = []
    for _ in range(4):
        device = pacer.least_loaded(["a", "b"])
        assert device is not None
        pacer.reserve(device)
        chosen.append(device)
    assert chosen == ["a", "b", "a", "b"]
