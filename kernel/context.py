"""Who caused what: correlation and causation ids that follow a message across services."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Trace:
    correlation_id: str
    causation_id: str = ""
    actor: str = ""

    def as_metadata(self) -> dict[str, str]:
        return {
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "actor": self.actor,
        }


_current: ContextVar[Trace | None] = ContextVar("switchboard_trace", default=None)


def current() -> Trace:
    trace = _current.get()
    if trace is None:
        trace = Trace(correlation_id=uuid.uuid4().hex)
        _current.set(trace)
    return trace


def begin(correlation_id: str = "", causation_id: str = "", actor: str = "") -> Trace:
    trace = Trace(correlation_id or uuid.uuid4().hex, causation_id, actor)
    _current.set(trace)
    return trace


def caused_by(event_id: str, correlation_id: str) -> Trace:
    """Start work caused by a consumed event: same correlation, the event as cause."""
    return begin(correlation_id, causation_id=event_id)


def with_actor(actor: str) -> Trace:
    trace = replace(current(), actor=actor)
    _current.set(trace)
    return trace
