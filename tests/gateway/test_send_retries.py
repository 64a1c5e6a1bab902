"""A far side that fails, goes silent or cuts connections mid-batch, through the gateway
and the four services: each message is tried again with backoff and ends once, either
read by its recipient (the outage passed) or Failed with its credit refunded (it did
not) — never left in Sending, never kept twice, never charged for nothing.

SQLite only: the retry path is the dispatcher's, the same on either store (the refund
path is proven on both in test_billing_credits)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from services.device.adapters.simulator import Outage, SimulatedWhatsApp
from tests.gateway.test_billing_credits import credits, signed_in, top_up
from tests.support.services import gateway_client, running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
RETRIES = {"dispatch_send_attempts": 3, "dispatch_retry_base_ms": 150,
           "dispatch_retry_max_ms": 300, "dispatch_send_timeout_seconds": 0.3}
NUMBERS = [f"2782555{i:04d}" for i in range(8)]
TEXT = "Your order has shipped"


@pytest.fixture
async def api(fresh_nats_url, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    async with running_services(url, fresh_nats_url, tmp_path, **ADMIN, **RETRIES) as settings, \
            gateway_client(settings) as client:
        client.far = SimulatedWhatsApp(tmp_path / "simulator.db")
        headers = await signed_in(client, "ann")
        await top_up(client, headers, 20)
        client.headers = headers
        yield client
        client.far.close()


def begin(api, kind: Outage, seconds: float) -> None:
    api.far.begin_outage(kind, datetime.now(UTC) + timedelta(seconds=seconds))


async def bulk(api) -> list[str]:
    sent = await api.post("/api/messages/send-bulk-message", headers=api.headers,
                          json={"numbers": NUMBERS, "message": TEXT})
    assert sent.status_code == 200, sent.text
    assert sent.json()["remaining_credits"] == 20 - len(NUMBERS)
    return sent.json()["queue_ids"]


async def final_statuses(api, queue_ids: list[str], within: float = 30.0) -> list[dict]:
    """Each message's status once all of them are complete (Read or Failed)."""
    deadline = time.monotonic() + within
    while True:
        found = [(await api.get(f"/api/messages/message-status/{q}", headers=api.headers)).json()
                 for q in queue_ids]
        if all(s.get("status") in ("Read", "Failed") for s in found):
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.1)


async def inbox(api, number: str) -> list[str]:
    found = (await api.get(f"/simulator/inbox/{number}")).json()
    return [m["body"] for m in found["messages"]]


@pytest.mark.parametrize(("kind", "reason"), [
    (Outage.UNAVAILABLE, "WhatsApp is unavailable"),
    (Outage.SILENT, "no answer from the far side within 0.3 s"),
    (Outage.CUT, "the connection dropped before WhatsApp acknowledged the message"),
])
async def test_an_outage_that_outlasts_the_retries_fails_and_refunds(api, kind, reason):
    begin(api, kind, seconds=120)
    statuses = await final_statuses(api, await bulk(api))
    assert {(s["status"], s["is_error"], s["error_message"]) for s in statuses} == {
        ("Failed", True, f"{reason} (gave up after 3 attempts)")}
    assert await credits(api, api.headers) == 20  # every credit came back
    expected = [TEXT] if kind is Outage.CUT else []  # a cut try was kept, once
    for number in NUMBERS:
        assert await inbox(api, number) == expected


@pytest.mark.parametrize("kind", list(Outage))
async def test_a_short_outage_mid_batch_delays_but_loses_nothing(api, kind):
    queue_ids = await bulk(api)
    begin(api, kind, seconds=0.4)  # while the batch goes out
    statuses = await final_statuses(api, queue_ids)
    assert {s["status"] for s in statuses} == {"Read"}
    assert await credits(api, api.headers) == 20 - len(NUMBERS)
    for number in NUMBERS:
        assert await inbox(api, number) == [TEXT]
