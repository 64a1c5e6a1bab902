"""Bad input that once made the gateway answer 500, through the real gateway and the four
services: now each is 400 INVALID_REQUEST in its API's envelope (and nothing is sent,
stored or charged), or, for dates at the calendar's edges, an answer.

- JSON may escape half a UTF-16 pair ("\\ud800"), which is no character; protobuf cannot
  carry it, so the service call failed while being built (both stores).
- U+0000 in a message, a URL or a filter: PostgreSQL text cannot hold it (both stores
  here, so the refusal is the gateway's, whatever the store).
- `since` / `until` at the edges of the calendar (0001-01-01 ahead of UTC, the end of
  9999-12-31) overflowed Python's datetime.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.text import REFUSAL
from tests.gateway.test_billing_credits import credits, signed_in, top_up
from tests.gateway.test_v1_instance import user_with_instance
from tests.support.services import gateway_client, running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
NUMBER = "27821234567"
# as they appear in JSON text: half a surrogate pair, and U+0000
UNFIT = ["\\ud800", "\\u0000"]


@pytest.fixture
async def api(database_url: str, fresh_nats_url: str, tmp_path: Path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as client:
        client.settings = settings  # type: ignore[attr-defined]
        yield client


def bodies(bad: str) -> list[tuple[str, str]]:
    """Messaging API writes, each with `bad` in one of its texts."""
    return [
        ("/api/messages/send-message", f'{{"number": "{NUMBER}", "message": "hi {bad}"}}'),
        ("/api/messages/send-message", f'{{"number": "{NUMBER}{bad}", "message": "hi"}}'),
        ("/api/messages/send-message",
         f'{{"number": "{NUMBER}", "template_id": 1, "variables": {{"n{bad}": "x"}}}}'),
        ("/api/messages/send-bulk-message", f'{{"numbers": ["{NUMBER}"], "message": "{bad}"}}'),
        ("/api/templates", f'{{"name": "t", "body": "Hello {bad}"}}'),
        ("/api/webhooks", f'{{"url": "https://example.com/{bad}"}}'),
        ("/api/instances", f'{{"instance_name": "{bad}"}}'),
        ("/api/auth/register", f'{{"username": "ann{bad}", "password": "tall-ladder-42"}}'),
        ("/api/auth/login", f'{{"username": "ann", "password": "pass{bad}word"}}'),
    ]


def refused_as_invalid(answer: httpx.Response) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "INVALID_REQUEST", "code": 400, "message": REFUSAL}


async def test_text_no_store_can_keep_is_refused_on_the_messaging_api(api) -> None:
    headers = await signed_in(api, "ann")
    await top_up(api, headers, 5)
    for bad in UNFIT:
        for path, body in bodies(bad):
            refused_as_invalid(await api.post(path, content=body, headers={
                **headers, "Content-Type": "application/json"}))
    for path, params in [("/api/messages/messages", {"number": f"{NUMBER}\x00"}),
                         ("/api/messages/messages", {"status": "sent\x00"}),
                         ("/api/messages/message-status/msg_%00", {}),
                         ("/api/instances/abc%00", {}),
                         ("/api/webhooks/wh%00/deliveries", {})]:
        refused_as_invalid(await api.get(path, params=params, headers=headers))
    assert await credits(api, headers) == 5
    found = await api.get("/api/messages/messages", headers=headers)
    assert found.json()["pagination"]["total"] == 0
    assert (await api.get("/api/templates", headers=headers)).json() == {"templates": []}
    assert (await api.get("/api/webhooks", headers=headers)).json() == {"webhooks": []}
    # an escaped pair is a whole character, and fine
    pair = await api.post("/api/messages/send-message", headers={
        **headers, "Content-Type": "application/json"},
        content=f'{{"number": "{NUMBER}", "message": "hi \\ud83d\\ude00"}}')
    assert pair.status_code == 200, pair.text
    sent = await api.get(f"/api/messages/message-status/{pair.json()['queue_id']}",
                         headers=headers)
    assert sent.json()["message"] == "hi \U0001f600"


async def test_text_no_store_can_keep_is_refused_on_the_instance_api(api) -> None:
    owner = await user_with_instance(api, api.settings, "ann")
    for bad in UNFIT:
        refused = await api.post("/api/v1/whatsapp/send", params=owner["keys"],
                                 headers={"Content-Type": "application/json"},
                                 content=f'{{"phoneNumber": "{NUMBER}", "message": "{bad}"}}')
        assert refused.status_code == 400
        assert refused.json() == {"success": False, "message": REFUSAL,
                                  "error": "INVALID_REQUEST", "data": None}


EDGES = [
    {"since": "0001-01-01T00:00:00+05:00"},
    {"since": "0001-01-01"},
    {"until": "9999-12-31"},
    {"until": "9999-12-31T23:59:59-05:00"},
    {"since": "0001-01-01T00:00:00+14:00", "until": "9999-12-31"},
]


async def test_history_dates_at_the_edges_of_the_calendar_hold_every_message(api) -> None:
    headers = await signed_in(api, "ann")
    await top_up(api, headers, 1)
    sent = await api.post("/api/messages/send-message", headers=headers,
                          json={"number": NUMBER, "message": "hi"})
    assert sent.status_code == 200, sent.text
    for params in EDGES:
        found = await api.get("/api/messages/messages", headers=headers, params=params)
        assert found.status_code == 200, (params, found.text)
        assert [m["queue_id"] for m in found.json()["messages"]] == [sent.json()["queue_id"]]
