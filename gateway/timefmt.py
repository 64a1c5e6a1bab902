"""Timestamps in the shapes the two API documents show."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from kernel.clock import from_timestamp


def _seconds(ts: Timestamp) -> datetime:
    return from_timestamp(ts).replace(microsecond=0)


def iso_z(ts: Timestamp) -> str | None:
    """'2025-06-03T10:30:00Z', as in the Messaging API's message documents."""
    if not ts.seconds and not ts.nanos:
        return None
    return _seconds(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_naive(ts: Timestamp) -> str | None:
    """'2025-06-01T10:00:00' (UTC), as in profiles and the Instance API."""
    if not ts.seconds and not ts.nanos:
        return None
    return _seconds(ts).strftime("%Y-%m-%dT%H:%M:%S")
