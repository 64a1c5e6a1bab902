"""Reading JSON that someone else wrote (Meta's Graph API answers and its webhooks): a
field that is missing or of another type reads as empty or zero, never raises."""

from __future__ import annotations

from typing import Any


def as_object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_objects(value: object) -> list[dict[str, Any]]:
    """The objects of a list; anything else in it, or no list at all, is left out."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def as_int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
