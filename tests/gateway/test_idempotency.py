"""Idempotency-Key on the send endpoints through the real gateway and the four services,
on both stores: a replay answers the first answer without a second message or charge,
another body under the same key is 409, concurrent requests with one key send once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from kernel.db import create_engine
from services.messaging.adapters.idempotency import keys
from services.messaging.domain.idempotency import ABANDONED_AFTER, PENDING
from tests.gateway.test_billing_credits import credits, signed_in, top_up
from tests.gateway.test_bulk_send import queued
from tests.gateway.test_v1_send import FREE, linked
from tests.support.services import _store_url, gateway_client, running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
ONE = {"number": "27821234567", "message": "hi"}
SEND = "/api/messages/send-message"
BULK = "/api/messages/send-bulk-message"


@pytest.fixture
async def api(database_url, fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN,
                                **FREE) as settings, gateway_client(settings) as client:
        client.settings = settings
        yield client


async def user_with(api, name: str, amount: int) -> dict[str, str]:
    headers = await signed_in(api, name)
    if amount:  # sign-up credits are 0 here
        await top_up(api, headers, amount)
    assert await credits(api, headers) == amount
    return headers


async def test_a_replay_answers_the_first_answer_once_charged(api):
    ann = await user_with(api, "ann", 5)
    keyed = {**ann, "Idempotency-Key": "order-1"}
    first = await api.post(SEND, headers=keyed, json=ONE)
    again = await api.post(SEND, headers=keyed, json=ONE)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert await credits(api, ann) == 4 and await queued(api, ann) == 1
    other = await api.post(SEND, headers=keyed, json={**ONE, "message": "changed"})
    assert other.status_code == 409 and other.json()["error"] == "CONFLICT", other.text
    bulk = {**ann, "Idempotency-Key": "bulk-1"}
    body = {"numbers": ["27821234567", "27829876543"], "message": "all"}
    firsts = [await api.post(BULK, headers=bulk, json=body) for _ in range(2)]
    assert firsts[0].json() == firsts[1].json() and firsts[0].status_code == 200
    assert await credits(api, ann) == 2 and await queued(api, ann) == 3
    bob = await user_with(api, "bob", 5)  # keys are per user
    theirs = await api.post(SEND, headers={**bob, "Idempotency-Key": "order-1"}, json=ONE)
    assert theirs.json()["queue_id"] != first.json()["queue_id"]


async def test_a_refusal_is_replayed_too(api):
    cat = await user_with(api, "cat", 0)
    keyed = {**cat, "Idempotency-Key": "k"}
    refused = await api.post(SEND, headers=keyed, json=ONE)
    assert refused.status_code == 403, refused.text
    await top_up(api, cat, 3)
    again = await api.post(SEND, headers=keyed, json=ONE)
    assert (again.status_code, again.json()) == (403, refused.json())
    assert await credits(api, cat) == 3 and await queued(api, cat) == 0


async def test_concurrent_requests_with_one_key_send_once(api):
    dan = await user_with(api, "dan", 10)
    keyed = {**dan, "Idempotency-Key": "race"}
    answers = await asyncio.gather(*(api.post(SEND, headers=keyed, json=ONE)
                                     for _ in range(8)))
    ok = [a for a in answers if a.status_code == 200]
    assert ok and all(a.status_code in (200, 409) for a in answers)
    assert len({a.json()["queue_id"] for a in ok}) == 1
    assert await credits(api, dan) == 9 and await queued(api, dan) == 1


async def test_the_instance_send_is_idempotent_per_instance(api):
    owner = await linked(api, "eve")
    headers = {"Idempotency-Key": "v1-1"}
    body = {"phoneNumber": "27821234567", "message": "hi"}
    first = await api.post("/api/v1/whatsapp/send", params=owner["keys"], headers=headers,
                           json=body)
    again = await api.post("/api/v1/whatsapp/send", params=owner["keys"], headers=headers,
                           json=body)
    assert first.status_code == again.status_code == 200, first.text
    assert again.json() == first.json()
    quota = (await api.get("/api/v1/whatsapp/quota", params=owner["keys"])).json()["data"]
    assert quota["messagesUsed"] == 1


async def lose_the_answer(database_url: str, key: str) -> None:
    """What a messaging crash after queueing but before replying leaves behind: the key
    claimed and never settled, old enough (60 s) for a retry to take it over."""
    engine = create_engine(_store_url(database_url, "messaging"), schema="messaging")
    async with engine.begin() as conn:
        await conn.execute(update(keys).where(keys.c.key == key).values(
            state=PENDING, status_code=0, body=b"",
            created_at=datetime.now(UTC) - ABANDONED_AFTER - timedelta(seconds=1)))
    await engine.dispose()


async def test_a_retry_after_a_lost_answer_queues_and_charges_nothing_new(
        api, database_url):
    fay = await user_with(api, "fay", 10)
    one = await api.post(SEND, headers={**fay, "Idempotency-Key": "lost-1"}, json=ONE)
    bulk_body = {"numbers": ["27821234567", "27829876543"], "message": "all"}
    bulk = await api.post(BULK, headers={**fay, "Idempotency-Key": "lost-2"}, json=bulk_body)
    assert one.status_code == bulk.status_code == 200, bulk.text
    assert await credits(api, fay) == 7 and await queued(api, fay) == 3
    for key in ("lost-1", "lost-2"):
        await lose_the_answer(database_url, key)
    one_again = await api.post(SEND, headers={**fay, "Idempotency-Key": "lost-1"}, json=ONE)
    bulk_again = await api.post(BULK, headers={**fay, "Idempotency-Key": "lost-2"},
                                json=bulk_body)
    assert "Idempotent-Replayed" not in one_again.headers  # it ran again, and:
    assert one_again.json()["queue_id"] == one.json()["queue_id"]
    assert bulk_again.json()["queue_ids"] == bulk.json()["queue_ids"]
    assert bulk_again.json()["remaining_credits"] == 7
    assert await credits(api, fay) == 7 and await queued(api, fay) == 3
    owner = await linked(api, "gus")
    body = {"phoneNumber": "27821234567", "message": "hi"}
    first = await api.post("/api/v1/whatsapp/send", params=owner["keys"],
                           headers={"Idempotency-Key": "lost-3"}, json=body)
    await lose_the_answer(database_url, "lost-3")
    again = await api.post("/api/v1/whatsapp/send", params=owner["keys"],
                           headers={"Idempotency-Key": "lost-3"}, json=body)
    assert again.json()["data"]["messageId"] == first.json()["data"]["messageId"]
    quota = (await api.get("/api/v1/whatsapp/quota", params=owner["keys"])).json()["data"]
    assert quota["messagesUsed"] == 1


async def test_without_a_key_the_same_body_is_a_new_message(api):
    hal = await user_with(api, "hal", 5)
    answers = [await api.post(SEND, headers=hal, json=ONE) for _ in range(2)]
    assert answers[0].json()["queue_id"] != answers[1].json()["queue_id"]
    assert await credits(api, hal) == 3 and await queued(api, hal) == 2
