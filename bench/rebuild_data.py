"""Real domain events for the rebuild benchmark, published straight onto JetStream.

Each event is encoded by its service's own codec (or protobuf, for the device events the
history projection reads) and carries the headers the outbox relay gives it
(`kernel.bus.headers_for`), so the projections read exactly what a running stack writes.
Publishing goes to the streams directly, in bulk: through the HTTP API a million events
would take hours.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message as ProtoMessage
from google.protobuf.timestamp_pb2 import Timestamp

from kernel.eventstore import StoredEvent
from services.billing.adapters.codec import billing_codec
from services.billing.domain import events as credit
from services.billing.domain import subscription_events as sub
from services.messaging.adapters.codec import messaging_codec
from services.messaging.domain.events import MessageQueued
from switchboard.device.v1 import events_pb2 as device

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USERS = 1000
INSTANCES = 200
MESSAGING, BILLING = messaging_codec(), billing_codec()


@dataclass(frozen=True)
class Outgoing:
    """One event as the relay publishes it: its service's stream and its StoredEvent."""

    service: str
    event: StoredEvent


def _stored(stream_id: str, version: int, event_type: str, payload: bytes,
            at: datetime) -> StoredEvent:
    return StoredEvent(0, str(uuid.uuid4()), stream_id, version, event_type, payload,
                       {"correlation_id": "bench"}, at)


def _stamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def _queued(k: int, at: datetime, instance: str = "") -> Outgoing:
    qid = f"msg_bench{k:09d}"
    event = MessageQueued(message_id=qid, user_id=1 + k % USERS, number=f"2782{k % 10**7:07d}",
                          body=f"bench message {k}", channel="instance" if instance else "pool",
                          instance_id=instance, queued_at=at)
    new = MESSAGING.encode(event)
    return Outgoing("messaging", _stored(f"message-{qid}", 1, new.event_type, new.payload, at))


def _device(k: int, version: int, pb: ProtoMessage, at: datetime) -> Outgoing:
    return Outgoing("device", _stored(f"dispatch-msg_bench{k:09d}", version,
                                      type(pb).__name__, pb.SerializeToString(), at))


def history_events(total: int) -> Iterator[Outgoing]:
    """`total` events, four per message: MessageQueued, then the device's MessageSent,
    MessageDelivered and MessageRead for it (the normal life of a message)."""
    for k in range(total // 4):
        at = T0 + timedelta(seconds=k)
        qid, user = f"msg_bench{k:09d}", 1 + k % USERS
        yield _queued(k, at)
        yield _device(k, 1, device.MessageSent(message_id=qid, device_id="dev1",
                                               transport_message_id=f"t{k}",
                                               sent_at=_stamp(at), user_id=user), at)
        yield _device(k, 2, device.MessageDelivered(message_id=qid, transport_message_id=f"t{k}",
                                                    delivered_at=_stamp(at), user_id=user), at)
        yield _device(k, 3, device.MessageRead(message_id=qid, transport_message_id=f"t{k}",
                                               read_at=_stamp(at), user_id=user), at)


def _billing(stream_id: str, version: int, event: object, at: datetime) -> Outgoing:
    new = BILLING.encode(event)
    return Outgoing("billing", _stored(stream_id, version, new.event_type, new.payload, at))


def quota_events(total: int) -> Iterator[Outgoing]:
    """`total` events the quota view folds: each user's signup credits, each instance's
    subscription, then messages spread over three months, two events each: MessageQueued
    and the reservation that paid for it (credits on the Messaging API, the instance's
    quota on the Instance API, alternately)."""
    for u in range(1, USERS + 1):
        yield _billing(f"ledger-{u}", 1, credit.SignupCreditsGranted(user_id=u, amount=10**6),
                       T0)
    period_end = T0 + timedelta(days=365)
    for i in range(INSTANCES):
        yield _billing(f"subscription-inst{i}", 1, sub.SubscriptionStarted(
            instance_id=f"inst{i}", user_id=1 + i % USERS, subscription_type=2, period=1,
            monthly_quota=10**7, auto_renew=True, start_date=T0, end_date=period_end,
            period_start=T0, period_end=period_end), T0)
    spread = timedelta(days=90).total_seconds()
    messages = (total - USERS - INSTANCES) // 2
    for k in range(messages):
        at = T0 + timedelta(seconds=spread * k / max(messages, 1))
        if k % 2:
            inst = f"inst{k % INSTANCES}"
            yield _queued(k, at, inst)
            yield _billing(f"subscription-{inst}", 2 + k, sub.QuotaReserved(
                instance_id=inst, message_ids=(f"msg_bench{k:09d}",), count=1,
                period_start=T0), at)
        else:
            user = 1 + k % USERS
            yield _queued(k, at)
            yield _billing(f"ledger-{user}", 2 + k, credit.CreditsReserved(
                user_id=user, message_ids=(f"msg_bench{k:09d}",), amount=1), at)
