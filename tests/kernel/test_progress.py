"""kernel/progress.py: the lines a long replay prints, at most one per interval, with the
rate and the time left worked out from what was replayed so far."""

from __future__ import annotations

import io

from kernel.progress import Progress, current, reporting


class Clock:
    """Seconds the test moves on by hand, so the rate and ETA have known values."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_come_at_most_once_per_interval_with_rate_and_eta() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress("rebuild history", out=out, every=2.0, clock=clock)
    progress.expect(1000)
    for _ in range(10):  # 100 events every half second: 200/s
        clock.now += 0.5
        progress.advance(100)
    progress.finish()
    assert out.getvalue().splitlines() == [
        "rebuild history: 400/1000 events replayed (40%), 200/s, ETA 3s",
        "rebuild history: 800/1000 events replayed (80%), 200/s, ETA 1s",
        "rebuild history: 1000/1000 events replayed (100%), 200/s, ETA 0s",
    ]


def test_reporting_makes_it_current_and_prints_the_last_line_only_if_it_ended_well() -> None:
    out = io.StringIO()
    with reporting(Progress("p", out=out, clock=Clock())) as progress:
        assert current() is progress
    assert current() is None
    assert out.getvalue() == "p: 0/0 events replayed, 0/s, ETA unknown\n"
    failed = io.StringIO()
    try:
        with reporting(Progress("q", out=failed)):
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    assert failed.getvalue() == "" and current() is None
