"""Which protobuf message carries each billing domain event."""

from __future__ import annotations

from kernel.codec import EventCodec
from services.billing.domain import events
from switchboard.billing.v1 import events_pb2


def billing_codec() -> EventCodec:
    return EventCodec({
        events.CreditsGranted: events_pb2.CreditsGranted,
        events.SignupCreditsGranted: events_pb2.SignupCreditsGranted,
        events.CreditsReserved: events_pb2.CreditsReserved,
        events.CreditsSpent: events_pb2.CreditsSpent,
        events.CreditsReleased: events_pb2.CreditsReleased,
        events.ReservationOpened: events_pb2.ReservationOpened,
        events.ReservationCommitted: events_pb2.ReservationCommitted,
        events.ReservationRefunded: events_pb2.ReservationRefunded,
    })
