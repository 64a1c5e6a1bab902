"""Unknown fields in request bodies, through the real gateway and the four services on
both stores: each is 400 INVALID_REQUEST in its API's envelope naming the field, and
nothing is sent, charged or created (a `media_url` once sent a text and charged for it)."""

from __future__ import annotations

import pytest

from tests.gateway.test_billing_credits import credits, signed_in, top_up
from tests.gateway.test_v1_send import RECIPIENT, gateway_api, linked, queued_count

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
PIC = {"message": "pic", "media_url": "https://example.com/a.png"}


@pytest.fixture
async def api(database_url, fresh_nats_url, tmp_path):
    async with gateway_api(database_url, fresh_nats_url, tmp_path, **ADMIN) as client:
        yield client


def refused(answer, message: str = "Unknown field: media_url") -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": "INVALID_REQUEST", "code": 400, "message": message}


async def test_messaging_api_writes_refuse_unknown_fields_and_charge_nothing(api):
    headers = await signed_in(api, "ann")
    await top_up(api, headers, 5)
    refused(await api.post("/api/messages/send-message", headers=headers,
                           json={"number": RECIPIENT, **PIC}))
    refused(await api.post("/api/messages/send-bulk-message", headers=headers,  # bulk takes
                           json={"numbers": [RECIPIENT], "message": "pic",  # a media_url
                                 "image_url": "https://example.com/a.png"}),
            "Unknown field: image_url")
    refused(await api.post("/api/templates", headers=headers,
                           json={"name": "t", "body": "b", "media_url": "x"}))
    refused(await api.post("/api/auth/register", json={
        "username": "bob", "password": "tall-ladder-42", "role": "admin", "is_admin": True}),
        "Unknown fields: role, is_admin")
    refused(await api.post("/api/auth/login", json={
        "username": "ann", "password": "tall-ladder-42", "remember": True}),
        "Unknown field: remember")
    assert await credits(api, headers) == 5
    assert (await api.get("/api/messages/messages", headers=headers)).json()[
        "pagination"]["total"] == 0
    assert (await api.get("/api/templates", headers=headers)).json() == {"templates": []}
    assert (await api.post("/api/auth/login", json={
        "username": "bob", "password": "tall-ladder-42"})).status_code == 401
    # the documented bodies still go through
    sent = await api.post("/api/messages/send-message", headers=headers,
                          json={"number": RECIPIENT, "message": "hello"})
    assert sent.status_code == 200, sent.text


async def test_instance_api_writes_refuse_unknown_fields_and_spend_nothing(api):
    owner = await linked(api, "cat")
    answer = await api.post("/api/v1/whatsapp/send", params=owner["keys"],
                            json={"phoneNumber": RECIPIENT, **PIC})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"success": False, "error": "INVALID_REQUEST",
                             "message": "Unknown field: media_url", "data": None}
    renewed = await api.post("/api/v1/whatsapp/subscription/renew", params=owner["keys"],
                             json={"subscriptionType": 2, "period": 1, "monthlyQuota": 10,
                                   "coupon": "x", "plan": 3})
    assert renewed.status_code == 400, renewed.text
    assert renewed.json()["message"] == "Unknown fields: coupon, plan"
    quota = (await api.get("/api/v1/whatsapp/quota", params=owner["keys"])).json()["data"]
    assert quota["messagesUsed"] == 0 and quota["monthlyQuota"] != 10
    assert await queued_count(api, owner["user_id"]) == 0
    assert (await api.get(f"/simulator/inbox/{RECIPIENT}")).json()["messages"] == []
