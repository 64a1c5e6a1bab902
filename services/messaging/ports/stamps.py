"""datetime to protobuf Timestamp, for replies."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp


def stamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    found = Timestamp()
    found.FromDatetime(value)
    return found
