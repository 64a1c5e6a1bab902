"""Python's cyclic garbage collector, set for a long-running service process.

A process that has started holds some 185,000 objects it keeps for its whole life
(modules, settings, routes, compiled statements). With the interpreter's defaults each
full collection walks all of them: under load about one a second, 100 ms each, on the
event loop's thread, so every request then in flight waited for it. Once started, a
process moves what it has into the permanent generation (`gc.freeze`), which no
collection walks, and collects its youngest generation after 50,000 new objects instead
of 700, so short-lived request objects mostly die before a collection sees them. At
10,000 the youngest collections of the all-in-one process still took some 3 % of its
time under single sends at c=64 (300 ms in 10 s, some of 5-9 ms); at 50,000, 35 ms.
"""

from __future__ import annotations

import gc

YOUNGEST = 50_000  # allocations between collections of the youngest generation


def settle_after_start() -> None:
    """Call once, when the process has started everything it runs."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNGEST, middle, oldest)
