"""Domain events are frozen dataclasses; on the wire and on disk they are protobuf.

The codec copies fields by name between the two, so the domain never imports `_pb2`
and each service only declares which protobuf message carries which event.
"""

from __future__ import annotations

import dataclasses
import typing
from datetime import datetime
from types import UnionType
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from kernel.clock import from_timestamp, set_timestamp
from kernel.eventstore import NewEvent, StoredEvent


class UnknownEventError(Exception):
    pass


# Values a protobuf field takes as they are (bool and int enums are ints, str enums strs):
# tested first, since most fields hold one.
SCALARS = (str, int, float, bytes)
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def field_names(cls: type[Any]) -> tuple[str, ...]:
    """A dataclass's field names, in order, read once per class: `dataclasses.fields`
    builds its tuple anew on every call, and each event encoded asked for it."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def to_proto(event: Any, pb_cls: type[Message]) -> Message:
    msg = pb_cls()
    for name in field_names(type(event)):
        value = getattr(event, name)
        if value is None:
            continue
        if isinstance(value, SCALARS):
            setattr(msg, name, value)
        elif isinstance(value, datetime):
            set_timestamp(getattr(msg, name), value)
        elif isinstance(value, list | tuple):
            getattr(msg, name).extend(value)
        elif isinstance(value, dict):
            getattr(msg, name).update(value)
        elif dataclasses.is_dataclass(value):  # a nested message
            nested = getattr(msg, name)
            nested.CopyFrom(to_proto(value, type(nested)))
        else:
            setattr(msg, name, value)
    return msg


def from_proto(msg: Message, event_cls: type[Any]) -> Any:
    values: dict[str, Any] = {}
    for name in field_names(event_cls):
        value = getattr(msg, name)
        if isinstance(value, SCALARS):
            values[name] = value
        elif isinstance(value, Timestamp):
            values[name] = from_timestamp(value) if msg.HasField(name) else None
        elif hasattr(value, "items"):
            values[name] = dict(value)
        elif hasattr(value, "extend"):
            values[name] = tuple(value)
        elif isinstance(value, Message):  # a nested message: None when unset
            values[name] = (from_proto(value, _nested_class(event_cls, name))
                            if msg.HasField(name) else None)
        else:
            values[name] = value
    return event_cls(**values)


_NESTED: dict[tuple[type[Any], str], type[Any]] = {}


def _nested_class(event_cls: type[Any], name: str) -> type[Any]:
    """The dataclass a field holds (`Media | None` names `Media`)."""
    if (event_cls, name) not in _NESTED:
        hint = typing.get_type_hints(event_cls)[name]
        if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
            hint = next(h for h in typing.get_args(hint) if h is not type(None))
        _NESTED[event_cls, name] = hint
    return _NESTED[event_cls, name]


class EventCodec:
    """Maps a service's domain event classes onto the protobuf messages that carry them.

    `private` names the fields (secrets, hashes) that stay in the service's own store:
    the copy published on the bus has them emptied (`public_payload`)."""

    def __init__(self, mapping: dict[type[Any], type[Message]],
                 private: dict[type[Any], tuple[str, ...]] | None = None) -> None:
        self._pb = mapping
        self._by_name = {cls.__name__: cls for cls in mapping}
        self._private = {cls.__name__: (self._pb[cls], fields)
                         for cls, fields in (private or {}).items()}

    @property
    def event_types(self) -> list[str]:
        """The event types this codec carries: what the service's relay publishes."""
        return list(self._by_name)

    def public_payload(self, event_type: str, payload: bytes) -> bytes:
        """The payload as the bus carries it: every private field emptied."""
        if event_type not in self._private:
            return payload
        pb_cls, fields = self._private[event_type]
        msg = pb_cls.FromString(payload)
        for name in fields:
            msg.ClearField(name)
        return msg.SerializeToString()

    def encode(self, event: Any, meta: dict[str, Any] | None = None) -> NewEvent:
        """The event as stored; `meta`, if given, its own correlation and causation."""
        cls = type(event)
        if cls not in self._pb:
            raise UnknownEventError(cls.__name__)
        return NewEvent(cls.__name__, to_proto(event, self._pb[cls]).SerializeToString(),
                        meta=meta)

    def decode(self, stored: StoredEvent) -> Any:
        return self.decode_payload(stored.event_type, stored.payload)

    def decode_payload(self, event_type: str, payload: bytes) -> Any:
        cls = self._by_name.get(event_type)
        if cls is None:
            raise UnknownEventError(event_type)
        return from_proto(self._pb[cls].FromString(payload), cls)
