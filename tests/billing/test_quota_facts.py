"""Unit tests (no I/O): the quota facts of events read straight off their protobuf (PLAIN)
are those of the same events decoded by the codec, whatever their values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from kernel.bus import Envelope
from services.billing.adapters.codec import billing_codec
from services.billing.adapters.quota_facts import BILLING, DAY, PLAIN, day_month, facts_of, month
from services.billing.domain import events as credit
from services.billing.domain import subscription_events as sub
from switchboard.messaging.v1 import events_pb2 as messaging_events

CODEC = billing_codec()
RECORDED = datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)
START = datetime(2024, 2, 29, 12, 0, 0, 500000, tzinfo=UTC)


def envelope(event: object) -> Envelope:
    new = CODEC.encode(event)
    return Envelope("billing", str(uuid.uuid4()), new.event_type, "s", 1, new.payload, "",
                    "", RECORDED, 1)


def events() -> list[object]:
    found: list[object] = []
    for user, amount in [(7, 1), (0, 5), (12, 0)]:
        found += [credit.CreditsReserved(user, ("m1", "m2"), amount),
                  credit.CreditsReleased(user, ("m1",), amount, "failed", spent=1),
                  credit.CreditsGranted(user, amount, "top-up", 1)]
    for start, count in [(START, 3), (START - timedelta(days=400), 0)]:
        found += [sub.QuotaReserved("i1", ("m1",), count, start),
                  sub.QuotaReleased("i1", ("m1",), count, "failed", start)]
    return found


def test_every_plain_event_gives_the_facts_of_its_decoded_event() -> None:
    covered = set()
    for event in events():
        received = envelope(event)
        decoded = CODEC.decode_payload(received.event_type, received.payload)
        assert received.event_type in PLAIN
        assert facts_of(received) == BILLING[type(decoded)](decoded, received)
        covered.add(received.event_type)
    assert covered == set(PLAIN)


def test_a_queued_message_counts_in_the_utc_month_of_its_queued_time() -> None:
    """By the day of its Timestamp: the same month as the moment's own, at a month's
    first and last microsecond, before 1970 too; without one, the recording's month."""
    for moment in [datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
                   datetime(2024, 3, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59,
                                                               tzinfo=UTC),
                   datetime(1970, 1, 1, tzinfo=UTC), datetime(1960, 2, 1, tzinfo=UTC)]:
        queued = messaging_events.MessageQueued(message_id="m", user_id=7)
        queued.queued_at.FromDatetime(moment)
        [fact] = facts_of(Envelope("messaging", "e", "MessageQueued", "s", 1,
                                   queued.SerializeToString(), "", "", RECORDED, 1))
        assert fact.key == (7, month(moment))
        assert day_month(queued.queued_at.seconds // DAY) == month(moment)
    unstamped = messaging_events.MessageQueued(message_id="m", user_id=7).SerializeToString()
    [fact] = facts_of(Envelope("messaging", "e", "MessageQueued", "s", 1, unstamped, "", "",
                               RECORDED, 1))
    assert fact.key == (7, "2024-01")
