"""Which protobuf message carries each billing domain event."""

from __future__ import annotations

from kernel.codec import EventCodec
from services.billing.domain import events
from services.billing.domain import subscription_events as sub
from switchboard.billing.v1 import events_pb2


def billing_codec() -> EventCodec:
    return EventCodec({
        events.CreditsGranted: events_pb2.CreditsGranted,
        events.SignupCreditsGranted: events_pb2.SignupCreditsGranted,
        events.CreditsReserved: events_pb2.CreditsReserved,
        events.CreditsSpent: events_pb2.CreditsSpent,
        events.CreditsReleased: events_pb2.CreditsReleased,
        sub.SubscriptionStarted: events_pb2.SubscriptionStarted,
        sub.SubscriptionOwnerRecorded: events_pb2.SubscriptionOwnerRecorded,
        sub.SubscriptionRenewed: events_pb2.SubscriptionRenewed,
        sub.RenewalPaid: events_pb2.RenewalPaid,
        sub.SubscriptionAutoRenewed: events_pb2.SubscriptionAutoRenewed,
        sub.QuotaPeriodStarted: events_pb2.QuotaPeriodStarted,
        sub.SubscriptionExpired: events_pb2.SubscriptionExpired,
        sub.SubscriptionCancelled: events_pb2.SubscriptionCancelled,
        sub.QuotaReserved: events_pb2.QuotaReserved,
        sub.QuotaSpent: events_pb2.QuotaSpent,
        sub.QuotaReleased: events_pb2.QuotaReleased,
    })
