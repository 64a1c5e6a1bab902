"""Instance API: GET /api/v1/whatsapp/quota and POST /api/v1/whatsapp/subscription/renew
through the real gateway and the four services, on both stores, for an instance created
through auth (whose InstanceCreated starts its free plan in billing)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

import httpx
import pytest

from gateway.clients import Clients
from kernel.config import Settings
from switchboard.auth.v1 import auth_pb2
from tests.support.services import gateway_client, running_services

NAIVE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
FREE = {"billing_free_plan_type": 1, "billing_free_plan_quota": 50,
        "billing_free_plan_period": 1, "billing_free_plan_auto_renew": True}
QUOTA_KEYS = ["monthlyQuota", "messagesUsed", "messagesRemaining", "usagePercentage",
              "periodStart", "periodEnd", "hasQuotaAvailable", "isSubscriptionActive"]
SUBSCRIPTION_KEYS = ["type", "period", "monthlyQuota", "messagesUsed", "messagesRemaining",
                     "usagePercentage", "startDate", "endDate", "isActive", "isExpired",
                     "autoRenew"]
RENEWAL = {"subscriptionType": 2, "period": 1, "monthlyQuota": 1000, "amount": 49.99,
           "autoRenew": True}


async def instance_keys(api: httpx.AsyncClient, settings: Settings,
                        username: str) -> dict[str, str]:
    user_id = (await api.post("/api/auth/register", json={
        "username": username, "password": "tall-ladder-42"})).json()["user_id"]
    clients = Clients.connect(settings)
    try:
        pair = await clients.auth.CreateInstance(auth_pb2.CreateInstanceRequest(
            user_id=user_id, instance_name="Main WhatsApp"))
    finally:
        await clients.close()
    return {"publicKey": pair.instance.public_key, "secretKey": pair.secret_key}


@pytest.fixture
async def api(database_url, fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **FREE) as settings, \
            gateway_client(settings) as client:
        client.settings = settings
        yield client


async def test_quota_shows_the_free_plan_as_documented(api):
    keys = await instance_keys(api, api.settings, "ann")
    found = await api.get("/api/v1/whatsapp/quota", params=keys)
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["success"], body["message"]) == (True, "Quota status retrieved successfully")
    data = body["data"]
    assert list(data) == QUOTA_KEYS
    assert {k: data[k] for k in QUOTA_KEYS if "period" not in k} == {
        "monthlyQuota": 50, "messagesUsed": 0, "messagesRemaining": 50,
        "usagePercentage": 0.0, "hasQuotaAvailable": True, "isSubscriptionActive": True}
    start, end = (datetime.fromisoformat(data[k]) for k in ("periodStart", "periodEnd"))
    assert NAIVE.match(data["periodStart"]) and NAIVE.match(data["periodEnd"])
    assert timedelta(days=28) <= end - start <= timedelta(days=31)


async def test_the_instance_document_shows_the_same_subscription(api):
    keys = await instance_keys(api, api.settings, "bob")
    quota = (await api.get("/api/v1/whatsapp/quota", params=keys)).json()["data"]
    for _ in range(100):  # the device service learns of the instance from auth's event
        found = await api.get("/api/v1/whatsapp/instance", params=keys)
        if found.status_code != 503:
            break
        await asyncio.sleep(0.05)
    block = found.json()["data"]["subscription"]
    assert list(block) == SUBSCRIPTION_KEYS
    assert (block["type"], block["period"], block["isActive"], block["isExpired"],
            block["autoRenew"]) == ("Basic", "Monthly", True, False, True)
    assert (block["startDate"], block["endDate"]) == (quota["periodStart"], quota["periodEnd"])
    assert block["monthlyQuota"] == quota["monthlyQuota"] == 50


async def test_renewal_starts_the_new_plan_and_answers_with_it(api):
    keys = await instance_keys(api, api.settings, "cat")
    renewed = await api.post("/api/v1/whatsapp/subscription/renew", params=keys, json=RENEWAL)
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert (body["success"], body["message"]) == (True, "Subscription renewed successfully")
    data = body["data"]
    assert list(data) == SUBSCRIPTION_KEYS
    assert {k: data[k] for k in SUBSCRIPTION_KEYS if "Date" not in k} == {
        "type": "Standard", "period": "Monthly", "monthlyQuota": 1000, "messagesUsed": 0,
        "messagesRemaining": 1000, "usagePercentage": 0.0, "isActive": True,
        "isExpired": False, "autoRenew": True}
    assert NAIVE.match(data["startDate"]) and NAIVE.match(data["endDate"])
    quota = (await api.get("/api/v1/whatsapp/quota", params=keys)).json()["data"]
    assert (quota["monthlyQuota"], quota["periodStart"]) == (1000, data["startDate"])
    yearly = await api.post("/api/v1/whatsapp/subscription/renew", params=keys,
                            json={**RENEWAL, "subscriptionType": 4, "period": 2,
                                  "autoRenew": False})
    assert (yearly.json()["data"]["type"], yearly.json()["data"]["period"]) == ("Enterprise",
                                                                                  "Yearly")


@pytest.mark.parametrize(("change", "word"), [
    ({"subscriptionType": 5}, "subscriptionType"), ({"subscriptionType": 0}, "subscriptionType"),
    ({"period": 3}, "period"), ({"monthlyQuota": -1}, "monthlyQuota"),
    ({"amount": -10}, "amount"), ({"subscriptionType": "two"}, "subscriptionType"),
    ({"monthlyQuota": 2**70}, "monthlyQuota"), ({"autoRenew": "yes"}, "autoRenew"),
    ({"monthlyQuota": None}, "monthlyQuota"),
])
async def test_renewal_with_bad_values_is_a_clear_error(api, change, word):
    keys = await instance_keys(api, api.settings, "dan")
    body = {k: v for k, v in {**RENEWAL, **change}.items() if v is not None}
    refused = await api.post("/api/v1/whatsapp/subscription/renew", params=keys, json=body)
    assert refused.status_code == 400, refused.text
    answer = refused.json()
    assert answer == {"success": False, "error": "INVALID_REQUEST",
                      "message": answer["message"], "data": None}
    assert word in answer["message"]
    quota = (await api.get("/api/v1/whatsapp/quota", params=keys)).json()["data"]
    assert quota["monthlyQuota"] == 50


async def test_quota_routes_need_the_instance_key_pair(api):
    keys = await instance_keys(api, api.settings, "eve")
    for call in (api.get("/api/v1/whatsapp/quota", params={**keys, "secretKey": "wrong"}),
                 api.post("/api/v1/whatsapp/subscription/renew", json=RENEWAL),
                 api.get("/api/v1/whatsapp/quota")):
        refused = await call
        assert refused.status_code == 401
        assert refused.json()["error"] == "INVALID_CREDENTIALS"
    broken = await api.post("/api/v1/whatsapp/subscription/renew", params=keys,
                            content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"] == "INVALID_REQUEST"
