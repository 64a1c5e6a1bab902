"""Webhook fan-out and delivery in the real messaging service (real NATS, both stores),
driven by real device events, to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime

from kernel.config import Settings
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.gateway.webhook_receiver import receiver
from tests.messaging.conftest import (
    DeviceEvents,
    Messaging,
    Neighbours,
    StartMessaging,
    eventually,
)

# the receivers listen on 127.0.0.1, which only an explicit allow-list opens
FAST = {"webhook_backoff_base_seconds": 0.05, "webhook_backoff_cap_seconds": 0.1,
        "webhook_backoff_jitter": 0.0, "webhook_poll_seconds": 0.05,
        "webhook_breaker_seconds": 0.1, "webhook_allow_private": "127.0.0.0/8"}


async def retried(messaging: Messaging, user: int, webhook_id: str) -> pb.WebhookDelivery:
    """The first of the webhook's deliveries to have been tried twice."""

    async def found() -> pb.WebhookDelivery | None:
        log = await messaging.stub.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(
            user_id=user, webhook_id=webhook_id))
        return next((d for d in log.deliveries if d.attempts >= 2), None)

    return await eventually(found)


async def test_out_of_order_device_events_reach_the_receiver_in_order(
        user: int, settings: Settings, start_messaging: StartMessaging,
        neighbours: Neighbours, device_events: DeviceEvents) -> None:
    neighbours.billing.balances[user] = 5
    messaging = await start_messaging(settings.model_copy(update=FAST))
    with receiver("k", fail_first=2) as hook:
        made = await messaging.stub.CreateWebhook(pb.CreateWebhookRequest(
            user_id=user, url=hook.url, secret="k"))
        qid = (await messaging.send(user)).queue_id
        now = datetime.now(UTC)
        await device_events.emit("MessageRead", message_id=qid, transport_message_id="t",
                                 user_id=user, read_at=now)
        await device_events.emit("MessageSent", message_id=qid, device_id="d",
                                 transport_message_id="t", user_id=user, sent_at=now)

        async def read_recorded() -> bool:  # the receiver has it before messaging records it
            nonlocal log
            log = await messaging.stub.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(
                user_id=user, webhook_id=made.webhook_id))
            return any(d.status == "Read" and d.state == "delivered" for d in log.deliveries)

        log = None
        await eventually(read_recorded)
    words = [b["status"] for b in hook.accepted()]
    assert words[0] == "Queued" and words[-1] == "Read" and words.count("Read") == 1
    assert words in (["Queued", "Sent", "Read"], ["Queued", "Read"])
    assert all(ok for *_, ok in hook.calls)
    states = {d.status: d.state for d in log.deliveries}
    assert states["Queued"] == "delivered" and states["Read"] == "delivered"
    queued = next(d for d in log.deliveries if d.status == "Queued")
    assert queued.last_status_code == 200
    # The receiver refused the first two calls; they were Queued's unless a later status
    # of the message reached the outbox first (the streams are read apart) and was tried
    # (and then held back) before Queued arrived.
    delivered = [d for d in log.deliveries if d.state == "delivered"]
    assert sum(d.attempts for d in log.deliveries) == len(delivered) + 2
    assert 1 <= queued.attempts <= 3  # the refusals may have gone to a later status


async def test_a_receiver_that_never_answers_2xx_is_given_up_on(
        user: int, settings: Settings, start_messaging: StartMessaging,
        neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 5
    messaging = await start_messaging(settings.model_copy(
        update={**FAST, "webhook_give_up_seconds": 3.0}))  # room for retries under load
    with receiver("k", fail_first=10**6) as hook:
        made = await messaging.stub.CreateWebhook(pb.CreateWebhookRequest(
            user_id=user, url=hook.url, secret="k"))
        await messaging.send(user)

        async def gave_up() -> pb.WebhookDelivery | None:
            log = await messaging.stub.ListWebhookDeliveries(
                pb.ListWebhookDeliveriesRequest(user_id=user, webhook_id=made.webhook_id))
            return next((d for d in log.deliveries if d.state == "failed"), None)

        failed = await eventually(gave_up)
    assert failed.attempts >= 2 and failed.last_status_code == 500
    assert failed.last_error == "HTTP 500" and not failed.HasField("next_attempt_at")
    assert len(hook.calls) == failed.attempts


async def test_unreachable_receiver_is_retried_with_the_error_recorded(
        user: int, settings: Settings, start_messaging: StartMessaging,
        neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 5
    messaging = await start_messaging(settings.model_copy(update=FAST))
    with receiver("k") as hook:
        closed_url = hook.url
    made = await messaging.stub.CreateWebhook(pb.CreateWebhookRequest(
        user_id=user, url=closed_url))
    assert made.secret.startswith("whsec_")
    await messaging.send(user)
    row = await retried(messaging, user, made.webhook_id)
    assert row.state == "pending" and row.last_status_code == 0
    assert row.last_error == "connect failed" and row.HasField("next_attempt_at")
