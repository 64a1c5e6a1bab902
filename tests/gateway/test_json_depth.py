"""How deep a JSON body nests, found from its bytes without recursion, and the text
check that walks a parsed body without recursion either (no I/O)."""

from __future__ import annotations

import json
import time

import pytest

from gateway.bodylimit import json_depth_over
from gateway.text import unfit


def _nest(levels: int) -> bytes:
    return json.dumps(json.loads("[" * levels + "]" * levels)).encode()


@pytest.mark.parametrize(("body", "over"), [
    (_nest(32), False),
    (_nest(33), True),
    (b'{"a": ' * 32 + b"1" + b"}" * 32, False),
    (b'{"a": ' * 33 + b"1" + b"}" * 33, True),
    (b"[" * 33, True),  # never closed: the parser would still have gone 33 deep
    (b'["' + b"[{" * 500 + b'"]', False),  # brackets in a string are text
    (b'["\\"' + b"[" * 500 + b'"]', False),  # an escaped quote does not end the string
    (b'["\\\\"' + b",[" * 40 + b"]" * 40 + b"]", True),  # an escaped backslash does
    (json.dumps([[1, {"a": [2]}]] * 50_000).encode(), False),  # wide, not deep
    (b"", False),
])
def test_depth_is_counted_outside_strings(body: bytes, over: bool) -> None:
    assert json_depth_over(body, 32) is over


def _fastest_per_byte(small: bytes, large: bytes) -> tuple[float, float]:
    """The quickest of seven measurements of each, per byte, in this thread's CPU time (time
    the machine gives to other work does not count), small and large taken in turn so that
    whatever else disturbs the run falls on both alike."""
    best = {len(small): float("inf"), len(large): float("inf")}
    for _ in range(7):
        for body in (small, large):
            started = time.thread_time()
            assert json_depth_over(body, 32) is False
            best[len(body)] = min(best[len(body)], time.thread_time() - started)
    return best[len(small)] / len(small), best[len(large)] / len(large)


def test_a_worst_case_megabyte_costs_in_proportion_to_its_size() -> None:
    """1 MiB of brackets, 32 deep everywhere, costs per byte what 64 KiB of it does (a
    quadratic count would cost 16 times as much per byte); measured against itself in
    the same run, so a busy machine does not change the verdict."""
    unit = b"[" * 32 + b"]" * 32
    per_byte_small, per_byte_large = _fastest_per_byte(unit * 1_000, unit * 16_000)
    assert per_byte_large < 4 * per_byte_small, (per_byte_small, per_byte_large)


def test_text_is_checked_however_deep_the_value() -> None:
    def nest(inner: object) -> object:
        for _ in range(5000):
            inner = [{"k": inner}]
        return inner

    assert unfit(nest("\x00")) is True
    assert unfit(nest("fine")) is False
