"""Credits through the Messaging API, the real gateway and the four services, on both
stores: sign-up credits, remaining_credits agreeing with GET /api/users/user/credits,
INSUFFICIENT_CREDITS as documented, 50 concurrent sends against 10 credits, and the
refund of a message that fails."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.support.services import gateway_client, running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
WAIT_SECONDS = 30.0


async def until(check, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


async def signed_in(api: httpx.AsyncClient, username: str) -> dict[str, str]:
    await api.post("/api/auth/register", json={"username": username, "password": "tall-ladder-42"})
    login = await api.post("/api/auth/login", json={"username": username,
                                                    "password": "tall-ladder-42"})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def top_up(api: httpx.AsyncClient, user_headers: dict[str, str], amount: int) -> None:
    boss = await api.post("/api/auth/login", json={"username": "boss",
                                                   "password": "boss-password"})
    user_id = (await api.get("/api/users/user/profile", headers=user_headers)).json()["id"]
    granted = await api.post(f"/api/admin/users/{user_id}/credits", json={"amount": amount},
                             headers={"Authorization": f"Bearer {boss.json()['access_token']}"})
    assert granted.status_code == 200, granted.text


async def credits(api: httpx.AsyncClient, headers: dict[str, str]) -> int:
    found = await api.get("/api/users/user/credits", headers=headers)
    return int(found.json()["credits"])


def send(api: httpx.AsyncClient, headers: dict[str, str], text: str = "hi"):
    return api.post("/api/messages/send-message", headers=headers,
                    json={"number": "27821234567", "message": text})


@pytest.fixture
async def stack(database_url, fresh_nats_url, tmp_path, request):
    overrides = getattr(request, "param", {})
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN,
                                **overrides) as settings, gateway_client(settings) as api:
        yield api


@pytest.mark.parametrize("stack", [{"signup_credits": 3}], indirect=True)
async def test_remaining_credits_agree_with_the_balance(stack):
    api = stack
    ann = await signed_in(api, "ann")

    async def signed_up():
        return await credits(api, ann) == 3

    await until(signed_up, "sign-up credits")
    for left in (2, 1, 0):
        sent = await send(api, ann)
        assert sent.status_code == 200, sent.text
        assert sent.json()["remaining_credits"] == left == await credits(api, ann)
    refused = await send(api, ann)
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "INSUFFICIENT_CREDITS", "code": 403,
        "message": "Not enough credits to send message. Required: 1, Available: 0"}


async def test_fifty_concurrent_sends_against_ten_credits(stack):
    api = stack
    bob = await signed_in(api, "bob")
    await top_up(api, bob, 10)
    answers = await asyncio.gather(*(send(api, bob, f"m{i}") for i in range(50)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 10 + [403] * 40, [a.text for a in answers if a.status_code >= 500]
    assert {a.json()["error"] for a in answers if a.status_code == 403} == {
        "INSUFFICIENT_CREDITS"}
    queued = {a.json()["queue_id"] for a in answers if a.status_code == 200}
    assert len(queued) == 10
    assert sorted(a.json()["remaining_credits"] for a in answers
                  if a.status_code == 200) == list(range(10))
    assert await credits(api, bob) == 0
    for queue_id in queued:
        async def known(queue_id=queue_id):
            found = await api.get(f"/api/messages/message-status/{queue_id}", headers=bob)
            return found.status_code == 200
        await until(known, f"{queue_id} in history")


@pytest.mark.parametrize("stack", [{"sim_failure_rate": 1.0}], indirect=True)
async def test_a_failed_message_gives_its_credit_back(stack):
    api = stack
    cat = await signed_in(api, "cat")
    await top_up(api, cat, 2)
    sent = await send(api, cat)
    assert sent.status_code == 200 and sent.json()["remaining_credits"] == 1

    async def refunded():
        return await credits(api, cat) == 2

    await until(refunded, "credit refunded")

    async def shown_failed():
        found = await api.get(f"/api/messages/message-status/{sent.json()['queue_id']}",
                              headers=cat)
        return found.status_code == 200 and found.json()["status"] == "Failed"

    await until(shown_failed, "status Failed")
