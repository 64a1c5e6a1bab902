"""Instance API: POST /api/v1/whatsapp/send through the real gateway and the four
services, on both stores: a linked instance's message reaches the recipient's simulated
phone and is paid from the instance's quota, and the answer comes once it was handed
over ("sent", with the real sentAt) or, past the wait, says "queued"; an unlinked
instance, a spent quota or an unknown field is refused in the v1 envelope, and nothing is
queued."""

from __future__ import annotations

import asyncio
import re
from contextlib import asynccontextmanager

import httpx
import pytest

from gateway.clients import Clients
from switchboard.messaging.v1 import messaging_pb2
from tests.device.test_simulator import decode_qr_data_url
from tests.gateway.test_v1_instance import instance_info, user_with_instance
from tests.support.services import gateway_client, running_services

NAIVE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
FREE = {"billing_free_plan_type": 1, "billing_free_plan_quota": 2,
        "billing_free_plan_period": 1, "billing_free_plan_auto_renew": True}
RECIPIENT = "27821234567"
DATA_KEYS = ["messageId", "status", "phoneNumber", "message", "sentAt", "quotaRemaining",
             "quotaUsed", "quotaTotal"]


@asynccontextmanager
async def gateway_api(database_url, nats_url, tmp_path, **overrides):
    """A gateway client of the four services with the free plan above and `overrides`."""
    async with running_services(database_url, nats_url, tmp_path,
                                **{**FREE, **overrides}) as settings, \
            gateway_client(settings) as client:
        client.settings = settings
        yield client


@pytest.fixture
async def api(database_url, fresh_nats_url, tmp_path):
    async with gateway_api(database_url, fresh_nats_url, tmp_path) as client:
        yield client


async def linked(api: httpx.AsyncClient, username: str) -> dict[str, object]:
    """A user's instance, linked by scanning its QR code with a simulated phone."""
    owner = await user_with_instance(api, api.settings, username)
    assert (await instance_info(api, owner["keys"])).status_code == 200
    qr = await api.get("/api/v1/whatsapp/instance/qrcode", params=owner["keys"])
    text = decode_qr_data_url(qr.json()["data"]["qrCode"])
    scanned = await api.post("/simulator/scan", json={"qr": text, "phone_number": "15550001234"})
    assert scanned.json()["status"] == "Connected", scanned.text
    return owner


async def inbox(api: httpx.AsyncClient, number: str, expected: int) -> list[dict]:
    for _ in range(200):
        found = (await api.get(f"/simulator/inbox/{number}")).json()["messages"]
        if len(found) >= expected:
            break
        await asyncio.sleep(0.05)
    return found


async def queued_count(api: httpx.AsyncClient, user_id: int) -> int:
    clients = Clients.connect(api.settings)
    try:
        page = await clients.messaging.ListMessages(messaging_pb2.ListMessagesRequest(
            user_id=user_id))
    finally:
        await clients.close()
    return int(page.total)


async def test_a_linked_instance_sends_and_spends_its_quota(api):
    owner = await linked(api, "ann")
    sent = await api.post("/api/v1/whatsapp/send", params=owner["keys"],
                          json={"phoneNumber": "+" + RECIPIENT, "message": "Hello from API!"})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert (body["success"], body["message"]) == (True, "Message sent successfully")
    data = body["data"]
    assert list(data) == DATA_KEYS
    assert {k: data[k] for k in DATA_KEYS if k not in ("messageId", "sentAt")} == {
        "status": "sent", "phoneNumber": RECIPIENT, "message": "Hello from API!",
        "quotaRemaining": 1, "quotaUsed": 1, "quotaTotal": 2}
    assert NAIVE.match(data["sentAt"]) and data["messageId"].startswith("msg_")
    received = (await api.get(f"/simulator/inbox/{RECIPIENT}")).json()["messages"]
    assert [(m["body"], m["device_id"]) for m in received] == [  # handed over: no wait
        ("Hello from API!", owner["instance_id"])]
    status = (await api.get(f"/api/messages/message-status/{data['messageId']}",
                            headers={"Authorization": f"Bearer {owner['token']}"})).json()
    assert status["number"] == RECIPIENT and status["created_at"][:19] <= data["sentAt"] + "Z"


async def linked_send(api: httpx.AsyncClient, username: str, text: str) -> dict:
    """The answer to one send from a new user's linked instance (200 whatever its fate)."""
    owner = await linked(api, username)
    sent = await api.post("/api/v1/whatsapp/send", params=owner["keys"],
                          json={"phoneNumber": RECIPIENT, "message": text})
    assert sent.status_code == 200, sent.text
    return dict(sent.json())


async def test_a_send_slower_than_the_wait_answers_queued_honestly(
        database_url, fresh_nats_url, tmp_path):
    async with gateway_api(database_url, fresh_nats_url, tmp_path, sim_send_latency_ms=1500,
                           instance_send_wait_seconds=0.3) as api:
        body = await linked_send(api, "eve", "later")
        assert body["message"] == ("Message queued: not yet handed to WhatsApp; it is sent "
                                   "as soon as it can be")
        assert (body["data"]["status"], body["data"]["sentAt"]) == ("queued", None)
        assert [m["body"] for m in await inbox(api, RECIPIENT, 1)] == ["later"]


async def test_a_send_that_fails_for_good_says_so(database_url, fresh_nats_url, tmp_path):
    async with gateway_api(database_url, fresh_nats_url, tmp_path,
                           sim_failure_rate=1.0) as api:
        body = await linked_send(api, "fay", "doomed")
        assert body["message"].startswith("Message could not be sent: ")
        assert len(body["message"]) > len("Message could not be sent: ")
        assert (body["data"]["status"], body["data"]["sentAt"]) == ("failed", None)


async def test_an_unlinked_instance_is_refused_and_nothing_is_queued(api):
    owner = await user_with_instance(api, api.settings, "bob")
    refused = await api.post("/api/v1/whatsapp/send", params=owner["keys"],
                             json={"phoneNumber": RECIPIENT, "message": "hi"})
    assert refused.status_code == 409, refused.text
    assert refused.json() == {"success": False, "error": "INSTANCE_NOT_CONNECTED",
                              "message": "WhatsApp instance is not connected. Scan QR code "
                                         "first.", "data": None}
    assert await queued_count(api, owner["user_id"]) == 0


async def test_a_spent_quota_is_refused_and_nothing_more_is_queued(api):
    owner = await linked(api, "cat")
    for text in ("one", "two"):
        sent = await api.post("/api/v1/whatsapp/send", params=owner["keys"],
                              json={"phoneNumber": RECIPIENT, "message": text})
        assert sent.status_code == 200, sent.text
    assert sent.json()["data"]["quotaRemaining"] == 0
    refused = await api.post("/api/v1/whatsapp/send", params=owner["keys"],
                             json={"phoneNumber": RECIPIENT, "message": "three"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "QUOTA_EXCEEDED" and refused.json()["success"] is False
    assert await queued_count(api, owner["user_id"]) == 2
    assert sorted(m["body"] for m in await inbox(api, RECIPIENT, 2)) == ["one", "two"]
    quota = (await api.get("/api/v1/whatsapp/quota", params=owner["keys"])).json()["data"]
    assert (quota["messagesUsed"], quota["messagesRemaining"]) == (2, 0)


@pytest.mark.parametrize("body", [{"phoneNumber": "12", "message": "hi"},
                                  {"phoneNumber": RECIPIENT, "message": "  "},
                                  {"message": "hi"}])
async def test_bad_requests_are_refused_before_anything_is_spent(api, body):
    owner = await linked(api, "dan")
    refused = await api.post("/api/v1/whatsapp/send", params=owner["keys"], json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "INVALID_REQUEST"
    quota = (await api.get("/api/v1/whatsapp/quota", params=owner["keys"])).json()["data"]
    assert quota["messagesUsed"] == 0

