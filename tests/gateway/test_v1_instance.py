"""Instance API: GET /api/v1/whatsapp/instance and /instance/qrcode through the real
gateway and the four services, on both stores. The QR PNG is decoded, its text scanned
by the simulated phone (POST /simulator/scan), and the instance shows Connected."""

from __future__ import annotations

import asyncio
import re

import httpx

from gateway.clients import Clients
from kernel.config import Settings
from switchboard.auth.v1 import auth_pb2
from tests.device.test_simulator import decode_qr_data_url
from tests.support.services import gateway_client, running_services

NAIVE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}


async def user_with_instance(api: httpx.AsyncClient, settings: Settings, username: str,
                             name: str = "Main WhatsApp") -> dict[str, object]:
    """A registered, logged-in user and an instance of theirs created through auth."""
    created = await api.post("/api/auth/register",
                             json={"username": username, "password": "tall-ladder-42"})
    user_id = created.json()["user_id"]
    token = (await api.post("/api/auth/login", json={"username": username,
                                                     "password": "tall-ladder-42"})).json()
    clients = Clients.connect(settings)
    try:
        pair = await clients.auth.CreateInstance(auth_pb2.CreateInstanceRequest(
            user_id=user_id, instance_name=name))
    finally:
        await clients.close()
    return {"user_id": user_id, "token": token["access_token"],
            "instance_id": pair.instance.instance_id, "id": pair.instance.id,
            "keys": {"publicKey": pair.instance.public_key, "secretKey": pair.secret_key}}


async def instance_info(api: httpx.AsyncClient, keys: dict[str, str]) -> httpx.Response:
    """GET /instance: answered from the instance as soon as its creation has returned."""
    return await api.get("/api/v1/whatsapp/instance", params=keys)


async def test_an_instance_links_by_its_qr_code(database_url, fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as api:
        owner = await user_with_instance(api, settings, "ann")
        keys = owner["keys"]
        found = await instance_info(api, keys)
        assert found.status_code == 200, found.text
        body = found.json()
        assert (body["success"], body["message"]) == (
            True, "Instance information retrieved successfully")
        data = body["data"]
        assert {k: data[k] for k in ("id", "instanceId", "instanceName", "status",
                                     "isConnected", "whatsappNumber", "connectedAt")} == {
            "id": owner["id"], "instanceId": owner["instance_id"],
            "instanceName": "Main WhatsApp", "status": "Disconnected", "isConnected": False,
            "whatsappNumber": None, "connectedAt": None}
        assert NAIVE.match(data["createdAt"])
        for _ in range(100):  # billing starts the instance's subscription from the event too
            data = (await instance_info(api, keys)).json()["data"]
            if data["subscription"] is not None:
                break
            await asyncio.sleep(0.05)
        assert set(data["subscription"]) == {
            "type", "period", "monthlyQuota", "messagesUsed", "messagesRemaining",
            "usagePercentage", "startDate", "endDate", "isActive", "isExpired", "autoRenew"}
        # the seed's fields in its order, then Switchboard's addition (docs/api.md)
        assert list(data) == ["id", "instanceId", "instanceName", "status", "isConnected",
                              "whatsappNumber", "createdAt", "connectedAt", "subscription",
                              "lastError"]
        assert data["lastError"] is None

        qr = await api.get("/api/v1/whatsapp/instance/qrcode", params=keys)
        assert qr.status_code == 200, qr.text
        assert qr.json()["message"] == "QR code generated successfully"
        code = qr.json()["data"]
        assert 50 <= code["expiresIn"] <= 60
        text = decode_qr_data_url(code["qrCode"])
        assert owner["instance_id"] in text
        awaiting = (await api.get("/api/v1/whatsapp/instance", params=keys)).json()["data"]
        assert awaiting["status"] == "AwaitingScan"
        again = (await api.get("/api/v1/whatsapp/instance/qrcode", params=keys)).json()
        assert decode_qr_data_url(again["data"]["qrCode"]) == text  # still fresh: the same

        scanned = await api.post("/simulator/scan",
                                 json={"qr": text, "phone_number": "+1 555 000 1234"})
        assert scanned.status_code == 200, scanned.text
        assert scanned.json()["status"] == "Connected"
        data = (await api.get("/api/v1/whatsapp/instance", params=keys)).json()["data"]
        assert (data["status"], data["isConnected"], data["whatsappNumber"]) == (
            "Connected", True, "15550001234")
        assert NAIVE.match(data["connectedAt"])

        refused = await api.get("/api/v1/whatsapp/instance/qrcode", params=keys)
        assert refused.status_code == 409
        assert refused.json() == {"success": False, "error": "ALREADY_CONNECTED",
                                  "message": refused.json()["message"], "data": None}
        stale = await api.post("/simulator/scan", json={"qr": text, "phone_number": "1555"})
        assert stale.status_code == 400 and stale.json()["error"] == "INVALID_REQUEST"
        wrong = await api.get("/api/v1/whatsapp/instance",
                              params={**keys, "secretKey": "not-the-secret"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "INVALID_CREDENTIALS"
