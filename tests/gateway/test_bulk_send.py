"""Messaging API: POST /api/messages/send-bulk-message through the real gateway and the
four services, on both stores: one credit per distinct recipient, every message reaching
its recipient's simulated phone, and whole-request refusals that queue and charge nothing."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.gateway.test_billing_credits import credits, signed_in, top_up
from tests.gateway.test_v1_send import queued_count
from tests.support.services import gateway_client, running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
NUMBERS = ["27821234567", "27829876543", "27823456789"]
URL = "/api/messages/send-bulk-message"


@pytest.fixture
async def api(database_url, fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as client:
        client.settings = settings
        yield client


async def user_with(api, username: str, total: int) -> dict[str, str]:
    headers = await signed_in(api, username)
    await top_up(api, headers, total - await credits(api, headers))
    assert await credits(api, headers) == total
    return headers


async def queued(api, headers) -> int:
    user_id = (await api.get("/api/users/user/profile", headers=headers)).json()["id"]
    return await queued_count(api, user_id)


async def test_bulk_queues_each_distinct_number_once_and_charges_for_them(api):
    headers = await user_with(api, "ann", 10)
    sent = await api.post(URL, headers=headers, json={
        "numbers": NUMBERS + ["+27821234567"], "message": "Bulk message to all recipients!"})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    # the seed's fields, in its order, then the job (beside them)
    assert list(body) == ["message", "messages_created", "remaining_credits", "queue_ids",
                          "job_id"]
    assert body["message"] == "Bulk message queued successfully for 3 numbers"
    assert (body["messages_created"], body["remaining_credits"]) == (3, 7)
    assert len(set(body["queue_ids"])) == 3
    assert await credits(api, headers) == 7 and await queued(api, headers) == 3
    for queue_id, number in zip(body["queue_ids"], NUMBERS, strict=True):
        status = (await api.get(f"/api/messages/message-status/{queue_id}",
                                headers=headers)).json()
        assert (status["number"], status["message"]) == (
            number, "Bulk message to all recipients!")
    for number in NUMBERS:
        for _ in range(200):
            inbox = (await api.get(f"/simulator/inbox/{number}")).json()["messages"]
            if inbox:
                break
            await asyncio.sleep(0.05)
        assert [m["body"] for m in inbox] == ["Bulk message to all recipients!"]


@pytest.mark.parametrize(("numbers", "words"), [
    (NUMBERS + ["12345"], ["12345"]),
    ([], ["numbers"]),
    ([f"2782{i:07d}" for i in range(201)], ["201", "200"]),
])
async def test_a_bad_list_refuses_the_whole_request(api, numbers, words):
    headers = await user_with(api, "bob", 500)
    refused = await api.post(URL, headers=headers, json={"numbers": numbers, "message": "x"})
    assert refused.status_code == 400, refused.text
    answer = refused.json()
    assert answer["error"] == "INVALID_REQUEST" and answer["code"] == 400
    assert all(word in answer["message"] for word in words), answer
    assert await credits(api, headers) == 500 and await queued(api, headers) == 0


async def test_too_few_credits_is_refused_for_the_distinct_count(api):
    headers = await user_with(api, "cat", 2)
    refused = await api.post(URL, headers=headers,
                             json={"numbers": NUMBERS + NUMBERS, "message": "x"})
    assert refused.status_code == 403, refused.text
    answer = refused.json()
    assert answer["error"] == "INSUFFICIENT_CREDITS"
    assert "Required: 3" in answer["message"] and "Available: 2" in answer["message"]
    assert await credits(api, headers) == 2 and await queued(api, headers) == 0
    one = await api.post(URL, headers=headers, json={"numbers": NUMBERS[:2], "message": "x"})
    assert one.json()["remaining_credits"] == 0


async def test_200_numbers_in_one_request_are_accepted_quickly(api):
    headers = await user_with(api, "dan", 1000)
    numbers = [f"2782{i:07d}" for i in range(200)]
    started = time.perf_counter()
    sent = await api.post(URL, headers=headers, json={"numbers": numbers, "message": "hi"})
    elapsed = time.perf_counter() - started
    assert sent.status_code == 200, sent.text
    assert sent.json()["messages_created"] == 200 and len(set(sent.json()["queue_ids"])) == 200
    assert await credits(api, headers) == 800
    print(f"200 messages accepted in {elapsed * 1000:.0f} ms")
