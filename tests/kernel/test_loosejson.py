"""kernel/loosejson.py: JSON written by someone else reads as empty or zero where a field
is missing or of another type, and never raises."""

from __future__ import annotations

import json

from kernel.loosejson import as_int, as_object, as_objects


def test_a_field_of_the_wrong_type_reads_as_empty() -> None:
    body = json.loads('{"error": {"code": "131056", "error_data": "text", "list": [1, {"a": 2}]}}')
    error = as_object(body.get("error"))
    assert as_int(error.get("code")) == 131056
    assert as_object(error.get("error_data")) == {}
    assert as_objects(error.get("list")) == [{"a": 2}]
    assert as_objects(error.get("missing")) == [] == as_objects({"a": 1})
    assert as_object(None) == {} == as_object([{"a": 1}])


def test_a_number_that_is_not_whole_reads_as_zero() -> None:
    assert [as_int(v) for v in (None, "", "abc", "1.5", 7, "-3", True)] == [0, 0, 0, 0, 7, -3, 0]
