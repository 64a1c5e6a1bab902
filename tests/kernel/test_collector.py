"""The collector's settings once a process has started (kernel/collector.py), in a
process of its own: what it holds is frozen out of every collection, and the youngest
generation waits for 50,000 allocations."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json
from kernel import collector
kept = [[n] for n in range(50_000)]  # what a started process holds
before = gc.get_freeze_count()
collector.settle_after_start()
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(),
                  "threshold": gc.get_threshold(), "tracked": len(gc.get_objects())}))
"""


def test_a_started_process_freezes_what_it_holds_and_collects_the_young_less_often() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True).stdout
    seen = json.loads(out)
    assert seen["before"] == 0 and seen["frozen"] >= 50_000
    assert seen["tracked"] < 1_000  # a full collection walks none of the frozen
    assert seen["threshold"][0] == 50_000
