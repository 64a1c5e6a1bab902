"""The turns at goneonize's maps (go_maps.py): lookups together, a start or a stop alone,
and one waiting to be alone goes before the lookups that come after it. On the real
wheel: test_whatsmeow_neonize_netns (`crowd`, and sends while sessions dial)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed here")

from services.device.adapters.whatsmeow.go_maps import MapTurns  # noqa: E402


def started(work: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def until(check: Callable[[], bool]) -> None:
    """For a thread that is blocked in a wait: nothing tells when it got there."""
    deadline = time.monotonic() + 5.0
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def test_lookups_go_on_together():
    turns = MapTurns()
    together = threading.Barrier(3, timeout=5.0)

    def lookup() -> None:
        with turns.lookup():
            together.wait()  # all three inside at once, or BrokenBarrierError

    threads = [started(lookup) for _ in range(2)]
    lookup()
    for thread in threads:
        thread.join(5.0)
    assert not together.broken


def test_a_call_alone_waits_for_lookups_in_flight_and_goes_before_later_ones():
    turns = MapTurns()
    order: list[str] = []
    leave_first = threading.Event()

    def first() -> None:
        with turns.lookup():
            order.append("first in")
            leave_first.wait(5.0)
            order.append("first out")

    def alone() -> None:
        end = turns.alone()
        order.append("alone")
        end()

    def later() -> None:
        with turns.lookup():
            order.append("later")

    threads = [started(first)]
    until(lambda: order == ["first in"])
    threads.append(started(alone))
    until(lambda: turns._waiting == 1)  # noqa: SLF001
    threads.append(started(later))
    leave_first.set()
    for thread in threads:
        thread.join(5.0)
    assert order == ["first in", "first out", "alone", "later"]


def test_a_turn_alone_ends_once_from_any_thread():
    turns = MapTurns()
    end = turns.alone()
    started(end).join(5.0)
    end()  # a second end gives nothing back twice
    other = turns.alone()
    looked_up = threading.Event()

    def lookup() -> None:
        with turns.lookup():
            looked_up.set()

    thread = started(lookup)
    assert not looked_up.wait(0.05)  # the other turn alone holds it back
    other()
    thread.join(5.0)
    assert looked_up.is_set()
