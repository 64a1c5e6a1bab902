"""Who caused what: correlation and causation ids that follow a message across services.

A correlation id comes from outside (the `X-Correlation-Id` header, gRPC metadata, a
consumed event) and is stored in every event it causes, logged and echoed: only
`[A-Za-z0-9._-]{1,64}` is kept as given, anything else is replaced by a fresh id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


CORRELATION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def fit_correlation_id(raw: str) -> str:
    """`raw` when it is a fit correlation id, else a fresh one."""
    return raw if CORRELATION_ID.fullmatch(raw) else uuid.uuid4().hex


_current: ContextVar[Trace | None] = ContextVar("switchboard_trace", default=None)


def current() -> Trace:
    trace = _current.get()
    if trace is None:
        trace = Trace(correlation_id=uuid.uuid4().hex)
        _current.set(trace)
    return trace


def begin(correlation_id: str = "", causation_id: str = "", actor: str = "") -> Trace:
    trace = Trace(fit_correlation_id(correlation_id), causation_id, actor)
    _current.set(trace)
    return trace


@contextmanager
def begun(correlation_id: str = "") -> Iterator[Trace]:
    """`begin` for the span of one unit of work (an HTTP request): the block runs under a
    trace of its own, and whatever trace the caller had is back when it ends."""
    trace = Trace(fit_correlation_id(correlation_id))
    token = _current.set(trace)
    try:
        yield trace
    finally:
        _current.reset(token)


def caused_by(event_id: str, correlation_id: str) -> Trace:
    """Start work caused by a consumed event: same correlation, the event as cause."""
    return begin(correlation_id, causation_id=event_id)


def with_actor(actor: str) -> Trace:
    trace = replace(current(), actor=actor)
    _current.set(trace)
    return trace
