"""Webhook delivery failing safely in the real messaging service (real NATS, both stores,
real receivers on 127.0.0.1): a URL the client cannot use is an attempt like any other
failure, never a crash; a deleted webhook gets nothing more; a name that resolves to a
private address is refused when delivery connects, and the connection goes to the very
address that was checked."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from kernel.config import Settings
from services.messaging.adapters.webhook_guard import RefusedTargetError, TargetGuard
from services.messaging.adapters.webhook_tables import webhook_deliveries, webhooks
from services.messaging.adapters.webhook_transport import delivery_client
from services.messaging.domain.webhook_targets import AddressPolicy, allow_list
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.gateway.webhook_receiver import receiver
from tests.messaging.conftest import (
    DeviceEvents,
    Messaging,
    Neighbours,
    StartMessaging,
    eventually,
)
from tests.messaging.test_webhook_delivery import FAST, retried

# accepted by the old validator, unusable by httpx (registered before the checks existed)
POISON = ["http://hooks.example:99999/h", "http://hooks.example/a\r\nb",
          "http://hooks.example/a\tb", "http://xn--/"]


async def _rows(messaging: Messaging, webhook_id: str) -> list[tuple[str, int, str | None]]:
    engine = messaging.host.infra.engine  # type: ignore[union-attr]
    d = webhook_deliveries
    async with engine.connect() as conn:
        found = await conn.execute(select(d.c.state, d.c.attempts, d.c.last_error)
                                   .where(d.c.webhook_id == webhook_id))
        return [tuple(row) for row in found]  # type: ignore[misc]


async def _legacy_hooks(messaging: Messaging, user: int) -> list[str]:
    ids = [f"whk_poison{i}" for i in range(len(POISON))]
    engine = messaging.host.infra.engine  # type: ignore[union-attr]
    async with engine.begin() as conn:
        await conn.execute(webhooks.insert(), [
            {"webhook_id": hook, "user_id": user, "url": url, "secret": "k", "active": True,
             "created_at": datetime.now(UTC)} for hook, url in zip(ids, POISON, strict=True)])
    return ids


async def test_a_url_the_client_cannot_use_fails_as_attempts_until_given_up(
        user: int, settings: Settings, start_messaging: StartMessaging,
        neighbours: Neighbours, caplog: pytest.LogCaptureFixture) -> None:
    neighbours.billing.balances[user] = 5
    messaging = await start_messaging(settings.model_copy(
        update={**FAST, "webhook_give_up_seconds": 2.0}))
    for url in POISON:  # refused at registration now
        with pytest.raises(Exception, match="INVALID_ARGUMENT|url"):
            await messaging.stub.CreateWebhook(pb.CreateWebhookRequest(user_id=user, url=url))
    poisoned = await _legacy_hooks(messaging, user)
    with receiver("k") as good, caplog.at_level(logging.WARNING):
        await messaging.stub.CreateWebhook(pb.CreateWebhookRequest(
            user_id=user, url=good.url, secret="k"))
        await messaging.send(user)

        async def all_given_up() -> bool:
            rows = [row for hook in poisoned for row in await _rows(messaging, hook)]
            return len(rows) == len(POISON) and all(r[0] == "failed" for r in rows)

        await eventually(all_given_up)
        await eventually(lambda: asyncio.sleep(0, [b["status"] for b in good.accepted()]))
        rows = [row for hook in poisoned for row in await _rows(messaging, hook)]
    assert all(attempts >= 2 and error == "invalid URL" for _, attempts, error in rows), rows
    assert [b["status"] for b in good.accepted()] == ["Queued"]
    assert not [r for r in caplog.records if "restarting" in r.getMessage()]


async def test_statuses_waiting_behind_a_failing_one_are_released_and_given_up(
        user: int, settings: Settings, start_messaging: StartMessaging,
        neighbours: Neighbours, device_events: DeviceEvents) -> None:
    neighbours.billing.balances[user] = 5
    messaging = await start_messaging(settings.model_copy(
        update={**FAST, "webhook_give_up_seconds": 1.5}))
    with receiver("k", fail_first=10**6) as hook:
        made = await messaging.stub.CreateWebhook(pb.CreateWebhookRequest(
            user_id=user, url=hook.url, secret="k"))
        qid = (await messaging.send(user)).queue_id
        await asyncio.sleep(1.0)  # Queued is failing; Sent and Read wait behind it
        now = datetime.now(UTC)
        await device_events.emit("MessageSent", message_id=qid, device_id="d",
                                 transport_message_id="t", user_id=user, sent_at=now)
        await device_events.emit("MessageRead", message_id=qid, transport_message_id="t",
                                 user_id=user, read_at=now)

        async def all_given_up() -> list[tuple[str, int, str | None]] | None:
            rows = await _rows(messaging, made.webhook_id)
            return rows if len(rows) == 3 and {r[0] for r in rows} == {"failed"} else None

        rows = await eventually(all_given_up)
    # Sent was released when Queued gave up, and tried; Read too, or given up on unsent
    # while the endpoint's breaker was open (past the give-up by then); none left waiting
    assert all(attempts >= 1 or error == "endpoint failing" for _, attempts, error in rows)
    assert sum(attempts for _, attempts, _ in rows) == len(hook.calls)
    sent = [body["status"] for _, _, body, _ in hook.calls]
    assert sent == sorted(sent, key=["Queued", "Sent", "Read"].index) and "Sent" in sent


async def test_a_deleted_webhook_gets_nothing_more(
        user: int, settings: Settings, start_messaging: StartMessaging,
        neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 5
    messaging = await start_messaging(settings.model_copy(update=FAST))
    with receiver("k", fail_first=10**6) as hook:
        made = await messaging.stub.CreateWebhook(pb.CreateWebhookRequest(
            user_id=user, url=hook.url, secret="k"))
        await messaging.send(user)
        await eventually(lambda: asyncio.sleep(0, len(hook.calls) >= 2))
        await messaging.stub.DeleteWebhook(pb.DeleteWebhookRequest(
            user_id=user, webhook_id=made.webhook_id))
        await asyncio.sleep(0.3)  # POSTs already in flight when it was deleted
        settled = len(hook.calls)
        await messaging.send(user)
        await asyncio.sleep(1.5)  # a dozen retries' worth at this backoff
        assert len(hook.calls) == settled
        rows = await _rows(messaging, made.webhook_id)
    assert rows and {state for state, _, _ in rows} == {"cancelled"}


async def test_an_endpoint_failing_in_a_row_is_skipped_while_its_breaker_is_open(
        user: int, settings: Settings, start_messaging: StartMessaging,
        neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 5
    messaging = await start_messaging(settings.model_copy(update={
        **FAST, "webhook_breaker_failures": 3, "webhook_breaker_seconds": 60.0}))
    with receiver("k", fail_first=10**6) as hook:
        made = await messaging.stub.CreateWebhook(pb.CreateWebhookRequest(
            user_id=user, url=hook.url, secret="k"))
        for _ in range(3):
            await messaging.send(user)
        await eventually(lambda: asyncio.sleep(0, len(hook.calls) >= 3))
        await asyncio.sleep(0.2)  # the other POST in flight when it opened (2 per endpoint)
        opened = len(hook.calls)
        await asyncio.sleep(1.0)  # twenty retries' worth at this backoff
        log = await messaging.stub.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(
            user_id=user, webhook_id=made.webhook_id))
    assert len(hook.calls) == opened <= 4
    waiting = [d for d in log.deliveries if d.state == "pending"]
    assert len(waiting) == 3 and sum(d.attempts for d in waiting) == opened
    assert all(d.next_attempt_at.ToDatetime(UTC) > datetime.now(UTC) + timedelta(seconds=50)
               for d in waiting)


async def test_a_name_resolving_to_a_private_address_is_refused_when_connecting(
        user: int, settings: Settings, start_messaging: StartMessaging,
        neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 5
    with receiver("k") as hook:
        opened = await start_messaging(settings.model_copy(update=FAST))
        made = await opened.stub.CreateWebhook(pb.CreateWebhookRequest(
            user_id=user, url=hook.url.replace("127.0.0.1", "localhost"), secret="k"))
        await opened.close()
        strict = await start_messaging(settings.model_copy(
            update={**FAST, "webhook_allow_private": ""}))  # the default
        await strict.send(user)
        row = await retried(strict, user, made.webhook_id)
    assert row.last_error == "refused: private address" and row.state == "pending"
    assert hook.calls == []


async def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    resolved: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        """A name that answers an allowed address once, then a refused one."""
        resolved.append(host)
        return ["127.0.0.2"] if len(resolved) == 1 else ["127.0.0.1"]

    guard = TargetGuard(AddressPolicy(allow_list("127.0.0.2/32")), resolver=rebinding)
    with receiver("k", host="127.0.0.2") as hook:  # closes each connection after answering
        port = hook.url.split(":")[2].split("/")[0]
        url = f"http://rebind.test:{port}/hooks/sb"
        async with delivery_client(guard, 5.0, 4) as client:
            first = await client.post(url, content=b"{}")
            with pytest.raises(RefusedTargetError):  # a new connection: checked again
                await client.post(url, content=b"{}")
    assert first.status_code == 401  # reached (on 127.0.0.2, the checked address), unsigned
    assert [h["host"] for _, h, _, _ in hook.calls] == [f"rebind.test:{port}"]
    assert resolved == ["rebind.test", "rebind.test"]
