"""Correlation ids from outside are kept only when they are ids, and a RecursionError is
logged as one line, not as a thousand identical frames (issue 12; no I/O)."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest

from kernel import context
from kernel.logs import JsonFormatter


@pytest.mark.parametrize("given", ["req-42", "a.b_c-D", "9" * 64, "x"])
def test_a_fit_correlation_id_is_kept(given: str) -> None:
    assert context.begin(given).correlation_id == given
    assert context.current().correlation_id == given


@pytest.mark.parametrize("given", ["", "x" * 65, "x" * 7000, "café", "a\x01b", "a\r\nb",
                                   "a b", "a/b", "a\u0661b", "ａｂ"])
def test_anything_else_is_replaced_by_a_fresh_id(given: str) -> None:
    fresh = context.begin(given).correlation_id
    assert fresh != given and re.fullmatch(r"[0-9a-f]{32}", fresh)
    assert context.caused_by("e1", given).correlation_id != given


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        return logging.LogRecord("t", logging.ERROR, __file__, 1, "failed on %s", ("POST",),
                                 sys.exc_info())


def _deep(n: int) -> int:
    return _deep(n + 1)


def test_a_recursion_error_is_logged_as_one_line() -> None:
    try:
        _deep(0)
    except RecursionError as exc:
        caught = exc
    line = JsonFormatter("gateway").format(_record(caught))
    logged = json.loads(line)
    assert logged["exc"] == "RecursionError: maximum recursion depth exceeded"
    assert logged["msg"] == "failed on POST" and len(line) < 500


def test_other_errors_keep_their_traceback() -> None:
    logged = json.loads(JsonFormatter("gateway").format(_record(ValueError("bad"))))
    assert logged["exc"].startswith("Traceback") and "ValueError: bad" in logged["exc"]
