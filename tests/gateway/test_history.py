"""Messaging API: GET /api/messages/messages through the real gateway and the four
services, on both stores: newest first, pagination, per_page capped, the status, number
and date filters, another user's messages never shown, bad parameters 400."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.gateway.test_billing_credits import signed_in, top_up
from tests.support.services import gateway_client, running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
NUMBERS = ["27821234567", "27829876543", "27823456789"]
URL = "/api/messages/messages"


@pytest.fixture
async def api(database_url, fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as client:
        yield client


async def sent_three(api) -> tuple[dict[str, str], list[str]]:
    headers = await signed_in(api, "ann")
    await top_up(api, headers, 10)
    ids = []
    for number in NUMBERS:
        sent = await api.post("/api/messages/send-message", headers=headers,
                              json={"number": number, "message": f"to {number}"})
        ids.append(sent.json()["queue_id"])
    return headers, ids


async def test_history_pages_newest_first(api):
    headers, ids = await sent_three(api)
    first = (await api.get(URL, headers=headers, params={"page": 1, "per_page": 2})).json()
    assert first["pagination"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2}
    assert [m["queue_id"] for m in first["messages"]] == [ids[2], ids[1]]
    item = first["messages"][0]
    assert list(item) == ["queue_id", "number", "message", "status", "created_at"]
    assert (item["number"], item["message"]) == (NUMBERS[2], f"to {NUMBERS[2]}")
    assert item["created_at"].endswith("Z")
    second = (await api.get(URL, headers=headers, params={"page": 2, "per_page": 2})).json()
    assert [m["queue_id"] for m in second["messages"]] == [ids[0]]
    capped = (await api.get(URL, headers=headers, params={"per_page": 500})).json()
    assert capped["pagination"]["per_page"] == 100
    default = (await api.get(URL, headers=headers)).json()
    assert default["pagination"] == {"page": 1, "per_page": 10, "total": 3, "pages": 1}
    other = await signed_in(api, "bob")
    assert (await api.get(URL, headers=other)).json()["pagination"]["total"] == 0


async def test_history_filters(api):
    headers, ids = await sent_three(api)
    by_number = (await api.get(URL, headers=headers,
                               params={"number": "+" + NUMBERS[1]})).json()
    assert [m["queue_id"] for m in by_number["messages"]] == [ids[1]]
    for _ in range(200):
        read = (await api.get(URL, headers=headers, params={"status": "read"})).json()
        if read["pagination"]["total"] == 3:
            break
        await asyncio.sleep(0.05)
    assert {m["status"] for m in read["messages"]} == {"Read"}
    failed = (await api.get(URL, headers=headers, params={"status": "Failed"})).json()
    assert failed["pagination"]["total"] == 0
    today = datetime.now(UTC).date()
    tomorrow = today + timedelta(days=1)
    within = {"since": today.isoformat(), "until": today.isoformat()}
    assert (await api.get(URL, headers=headers, params=within)).json()[
        "pagination"]["total"] == 3
    later = (await api.get(URL, headers=headers, params={"since": tomorrow.isoformat()}))
    assert later.json()["pagination"]["total"] == 0
    earlier = (await api.get(URL, headers=headers,
                             params={"until": f"{today.isoformat()}T00:00:00Z"}))
    assert earlier.json()["pagination"]["total"] == 0


@pytest.mark.parametrize("params", [
    {"page": 0}, {"page": "x"}, {"per_page": 0}, {"per_page": -1}, {"status": "lost"},
    {"since": "yesterday"}, {"until": "2025-13-01"},
    {"since": "2025-06-03", "until": "2025-06-01"},
])
async def test_bad_parameters_are_invalid_request(api, params):
    headers = await signed_in(api, "cat")
    refused = await api.get(URL, headers=headers, params=params)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "INVALID_REQUEST"
