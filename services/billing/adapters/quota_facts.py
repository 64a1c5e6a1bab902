"""What each event means for the quota view, as facts: a row key and the values to merge
into it. Pure functions: no I/O.

Instance rows are keyed by (instance, quota period); user rows by (user, calendar month,
UTC): messages by when messaging queued them, credits and renewal payments by when
billing recorded them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from google.protobuf.message import Message as ProtoMessage

from kernel.bus import Envelope
from kernel.clock import EPOCH, as_utc, from_timestamp
from services.billing.adapters.codec import billing_codec
from services.billing.adapters.quota_view import COUNTERS, STATUS_RANK
from services.billing.domain import events as credit
from services.billing.domain import subscription_events as sub
from services.billing.domain.holds import period_key
from switchboard.billing.v1 import events_pb2 as billing_events
from switchboard.messaging.v1 import events_pb2 as messaging_events

INSTANCE, USER = "quota_instance_periods", "quota_user_months"
DAY = 86400  # seconds
CODEC = billing_codec()
CLOSING = {sub.QuotaPeriodStarted: "completed", sub.SubscriptionAutoRenewed: "completed",
           sub.SubscriptionRenewed: "renewed"}


@dataclass
class Fact:
    table: str
    key: tuple[Any, ...]
    values: dict[str, Any] = field(default_factory=dict)

    def combine(self, later: Fact) -> None:
        """Fold a later fact about the same row into this one, as the view's merge would:
        counters add, set fields take the later value, status only moves up."""
        counters = COUNTERS[self.table]
        for name, value in later.values.items():
            if name in counters:
                self.values[name] = self.values.get(name, 0) + value
            elif name != "status":
                self.values[name] = value
            elif STATUS_RANK[value] > STATUS_RANK.get(self.values.get("status", ""), -1):
                self.values["status"] = value

    def row(self) -> dict[str, Any]:
        names = ("instance_id", "period_key") if self.table == INSTANCE else ("user_id", "month")
        return dict(zip(names, self.key, strict=True)) | self.values


def month(moment: datetime) -> str:
    utc = as_utc(moment)
    return f"{utc.year:04d}-{utc.month:02d}"


def _period(instance_id: str, start: datetime, **values: Any) -> Fact:
    return Fact(INSTANCE, (instance_id, period_key(start)), values)


@functools.lru_cache(maxsize=4096)
def day_month(day: int) -> str:
    """`month` of every moment of a UTC day, counted from 1970-01-01 (a replay's messages
    fall on few days: a dict look-up instead of a datetime each)."""
    return month(EPOCH + timedelta(days=day))


def _user(user_id: int, at: datetime, **counts: int) -> list[Fact]:
    return _user_in(user_id, month(at), **counts)


def _user_in(user_id: int, in_month: str, **counts: int) -> list[Fact]:
    return [Fact(USER, (user_id, in_month), counts)] if user_id > 0 else []


def _opened(e: sub.PeriodOpened, _: Envelope) -> list[Fact]:
    owner = {"user_id": e.user_id} if e.user_id else {}  # an unknown owner is learnt later
    facts = [_period(e.instance_id, e.period_start, **owner,
                     subscription_type=e.subscription_type, period=e.period,
                     monthly_quota=e.monthly_quota, period_start=e.period_start,
                     period_end=e.period_end, status="active")]
    previous = getattr(e, "previous_period_start", None)
    if previous is not None:
        facts.append(_period(e.instance_id, previous, status=CLOSING[type(e)]))
    return facts


def _owner(e: sub.SubscriptionOwnerRecorded, _: Envelope) -> list[Fact]:
    return [_period(e.instance_id, e.period_start, user_id=e.user_id)]


def _expired(e: sub.SubscriptionExpired, _: Envelope) -> list[Fact]:
    return [_period(e.instance_id, e.period_start, status="expired")]


def _cancelled(e: sub.SubscriptionCancelled, _: Envelope) -> list[Fact]:
    return [_period(e.instance_id, e.period_start, status="cancelled")]


def _reserved(e: sub.QuotaReserved, _: Envelope) -> list[Fact]:
    return [_period(e.instance_id, e.period_start, messages_reserved=e.count)]


def _released(e: sub.QuotaReleased, _: Envelope) -> list[Fact]:
    return [_period(e.instance_id, e.period_start, messages_returned=e.returned)] \
        if e.returned else []


BILLING: dict[type, Callable[[Any, Envelope], list[Fact]]] = {
    sub.SubscriptionStarted: _opened, sub.SubscriptionRenewed: _opened,
    sub.SubscriptionAutoRenewed: _opened, sub.QuotaPeriodStarted: _opened,
    sub.SubscriptionOwnerRecorded: _owner, sub.SubscriptionExpired: _expired,
    sub.SubscriptionCancelled: _cancelled, sub.QuotaReserved: _reserved,
    sub.QuotaReleased: _released,
    sub.RenewalPaid: lambda e, env: _user(e.user_id, env.recorded_at,
                                          renewal_payments_cents=e.amount_cents),
    credit.CreditsGranted: lambda e, env: _user(e.user_id, env.recorded_at,
                                                credits_granted=e.amount),
    credit.SignupCreditsGranted: lambda e, env: _user(e.user_id, env.recorded_at,
                                                      credits_granted=e.amount),
    credit.CreditsReserved: lambda e, env: _user(e.user_id, env.recorded_at,
                                                 credits_reserved=e.amount),
    credit.CreditsReleased: lambda e, env: _user(e.user_id, env.recorded_at,
                                                 credits_refunded=e.amount),
}
BILLING_TYPES = [cls.__name__ for cls in BILLING]


def _queued(envelope: Envelope) -> list[Fact]:
    event = messaging_events.MessageQueued.FromString(envelope.payload)
    in_month = day_month(event.queued_at.seconds // DAY) if event.HasField("queued_at") \
        else month(envelope.recorded_at)
    instance = 1 if event.channel == "instance" else 0
    return _user_in(event.user_id, in_month, messages_queued=1,
                    instance_messages_queued=instance)


def _quota_reserved(e: Any, _: Envelope) -> list[Fact]:
    return [_period(e.instance_id, from_timestamp(e.period_start), messages_reserved=e.count)]


def _quota_released(e: Any, _: Envelope) -> list[Fact]:
    return [_period(e.instance_id, from_timestamp(e.period_start),
                    messages_returned=e.returned)] if e.returned else []


# The commonest events, read straight off their protobuf (the fields the codec would copy
# into the domain event, by the same names): no dataclass round trip. Tested to give
# what BILLING gives for the decoded event.
PLAIN: dict[str, tuple[type[ProtoMessage], Callable[[Any, Envelope], list[Fact]]]] = {
    "CreditsReserved": (billing_events.CreditsReserved, BILLING[credit.CreditsReserved]),
    "CreditsReleased": (billing_events.CreditsReleased, BILLING[credit.CreditsReleased]),
    "CreditsGranted": (billing_events.CreditsGranted, BILLING[credit.CreditsGranted]),
    "QuotaReserved": (billing_events.QuotaReserved, _quota_reserved),
    "QuotaReleased": (billing_events.QuotaReleased, _quota_released),
}


def facts_of(envelope: Envelope) -> list[Fact]:
    if envelope.service == "messaging":
        return _queued(envelope)
    plain = PLAIN.get(envelope.event_type)
    if plain is not None:
        return plain[1](plain[0].FromString(envelope.payload), envelope)
    decoded = CODEC.decode_payload(envelope.event_type, envelope.payload)
    found = BILLING.get(type(decoded))
    return found(decoded, envelope) if found else []
