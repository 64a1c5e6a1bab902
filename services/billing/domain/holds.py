"""Reservations, one message id at a time: which account holds it and how it stands.

A message id is reserved once, ever, per kind (credits of a user's ledger, quota of an
instance's subscription): then committed (sent) or refunded (failed, or released). The
ledger's and the subscription's events name their message ids, so they are the record of
every reservation; `hold_changes` reads them, and the reservation index is built from it
(inline, in the transaction that appends the events, and again whenever it is rebuilt).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.aggregate import Aggregate
from services.billing.domain import events as credit
from services.billing.domain import subscription_events as quota
from services.billing.domain.errors import MessageIdTakenError, ReservationClosedError

CREDIT, QUOTA = "credit", "quota"
OPEN, COMMITTED, REFUNDED = "open", "committed", "refunded"


@dataclass(frozen=True)
class Hold:
    owner: str  # stream id of the holding ledger or subscription
    state: str
    period: int = 0  # quota: the period it counts against (epoch seconds of its start)


@dataclass(frozen=True)
class HoldChange:
    kind: str
    message_id: str
    owner: str
    state: str
    period: int | None  # set for a new hold; None when a settlement changes only the state


def period_key(period_start: datetime) -> int:
    return int(period_start.timestamp())


def hold_changes(stream_id: str, event: Any) -> list[HoldChange]:
    """The reservation changes an event records (none for most events)."""
    found = _SIMPLE.get(type(event))
    if found is None:
        return []
    kind, state = found
    period = None
    if state == OPEN:
        period = period_key(event.period_start) if kind == QUOTA else 0
    return [HoldChange(kind, m, stream_id, state, period) for m in event.message_ids]


_SIMPLE: dict[type, tuple[str, str]] = {
    credit.CreditsReserved: (CREDIT, OPEN),
    credit.CreditsSpent: (CREDIT, COMMITTED),
    credit.CreditsReleased: (CREDIT, REFUNDED),
    quota.QuotaReserved: (QUOTA, OPEN),
    quota.QuotaSpent: (QUOTA, COMMITTED),
    quota.QuotaReleased: (QUOTA, REFUNDED),
}


class Holds:
    """The holds of the message ids one change works on, kept current as it records."""

    def __init__(self, kind: str, found: dict[str, Hold] | None = None) -> None:
        self.kind = kind
        self._found = dict(found or {})

    def get(self, message_id: str) -> Hold | None:
        return self._found.get(message_id)

    def sort(self, owner: str, message_ids: Sequence[str]) -> tuple[list[str], int]:
        """(ids not reserved yet, how many this owner reserved before); refuses an id
        another account holds, or one that was refunded."""
        wanted = list(dict.fromkeys(message_ids))
        for message_id in wanted:
            hold = self._found.get(message_id)
            if hold is not None and hold.owner != owner:
                raise MessageIdTakenError(message_id)
            if hold is not None and hold.state == REFUNDED:
                raise ReservationClosedError(message_id)
        new = [m for m in wanted if m not in self._found]
        return new, len(wanted) - len(new)

    def open_of(self, owner: str, message_ids: Iterable[str]) -> list[str]:
        return self._in_state(owner, message_ids, OPEN)

    def committed_of(self, owner: str, message_ids: Iterable[str]) -> list[str]:
        return self._in_state(owner, message_ids, COMMITTED)

    def _in_state(self, owner: str, message_ids: Iterable[str], state: str) -> list[str]:
        return [m for m in dict.fromkeys(message_ids)
                if (h := self._found.get(m)) is not None and h.owner == owner
                and h.state == state]

    @contextmanager
    def recording(self, owner: Aggregate) -> Iterator[None]:
        """Keep these holds current with what `owner` records inside the block."""
        before = len(owner.pending)
        yield
        self.absorb(owner.stream_id, owner.pending[before:])

    def absorb(self, stream_id: str, events: Iterable[Any]) -> None:
        for event in events:
            for change in hold_changes(stream_id, event):
                if change.kind != self.kind:
                    continue
                before = self._found.get(change.message_id)
                period = change.period if change.period is not None else (
                    before.period if before else 0)
                self._found[change.message_id] = Hold(change.owner, change.state, period)
