"""A device's own failure reaches the API: kept as the instance's `lastError` (with its
time) and named in the refusals it causes. The real gateway and the four services on
both stores, with the simulator and with the cloud transport against the Cloud API
stand-in."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.device.test_simulator import decode_qr_data_url
from tests.device.transports.cloud_support import NUMBER_ID, TOKEN, cloud_api
from tests.gateway.test_v1_instance import NAIVE, instance_info, user_with_instance
from tests.support.services import gateway_client, running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
QR = "/api/v1/whatsapp/instance/qrcode"
UNREACHABLE = "WhatsApp (simulated) unreachable: the phone's network is down"


async def _last_error(api: httpx.AsyncClient, keys: dict[str, str]) -> Any:
    found = await instance_info(api, keys)
    assert found.status_code == 200, found.text
    return found.json()["data"]["lastError"]


async def test_a_rejected_or_unreachable_cloud_api_is_named_and_kept(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    async with cloud_api() as meta:
        cloud: dict[str, Any] = {"transport": "cloud", "cloud_base_url": meta.url,
                                 "cloud_access_token": TOKEN, "cloud_max_retries": 0,
                                 "cloud_phone_number_ids": {"unused": NUMBER_ID}, **ADMIN}
        async with running_services(database_url, fresh_nats_url, tmp_path,
                                    **cloud) as settings, gateway_client(settings) as api:
            owner = await user_with_instance(api, settings, "ann")
        keys = owner["keys"]
        # the instance's number, with a token Meta no longer takes
        cloud.update(cloud_access_token="revoked-token",
                     cloud_phone_number_ids={owner["instance_id"]: NUMBER_ID})
        async with running_services(database_url, fresh_nats_url, tmp_path,
                                    **cloud) as settings, gateway_client(settings) as api:
            assert await _last_error(api, keys) is None
            refused = await api.get(QR, params=keys)
            assert refused.status_code == 503, refused.text
            body = refused.json()
            assert (body["success"], body["error"]) == (False, "SERVICE_UNAVAILABLE")
            assert body["message"].startswith("The device failed: ")
            assert "Invalid OAuth access token" in body["message"]
            noted = await _last_error(api, keys)
            assert "Invalid OAuth access token" in noted["reason"]
            assert NAIVE.match(noted["at"])
            assert noted["reason"] in body["message"]
            await meta.stop()  # Meta cannot be reached at all now
            unreachable = await api.get(QR, params=keys)
            assert unreachable.status_code == 503
            assert unreachable.json()["message"].startswith("The device failed: ")
            now_noted = await _last_error(api, keys)
            assert now_noted["reason"] != noted["reason"]
            assert now_noted["reason"] in unreachable.json()["message"]


async def _linked(api: httpx.AsyncClient, keys: dict[str, str]) -> None:
    qr = (await api.get(QR, params=keys)).json()["data"]["qrCode"]
    scanned = await api.post("/simulator/scan", json={"qr": decode_qr_data_url(qr),
                                                      "phone_number": "+15557770001"})
    assert scanned.status_code == 200, scanned.text


async def test_a_network_loss_shows_as_last_error_and_in_the_refused_send(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                device_reconnect_base_ms=50, device_reconnect_max_ms=100,
                                **ADMIN) as settings, gateway_client(settings) as api:
        owner = await user_with_instance(api, settings, "ann")
        keys = owner["keys"]
        await _linked(api, keys)
        assert await _last_error(api, keys) is None
        dropped = await api.post("/simulator/phone-event", json={
            "device_id": owner["instance_id"], "event": "drop", "outage_seconds": 600,
            "reason": "WhatsApp unreachable: no route to host"})
        assert dropped.status_code == 200, dropped.text
        noted = await _last_error(api, keys)
        for _ in range(100):  # a reconnect attempt fails and says why
            if noted["reason"] == UNREACHABLE:
                break
            assert noted["reason"] == "WhatsApp unreachable: no route to host"
            await asyncio.sleep(0.05)
            noted = await _last_error(api, keys)
        assert noted["reason"] == UNREACHABLE and NAIVE.match(noted["at"])
        info = (await instance_info(api, keys)).json()["data"]
        assert (info["status"], info["isConnected"]) == ("Disconnected", False)
        sent = await api.post("/api/v1/whatsapp/send", params=keys,
                              json={"phoneNumber": "27821234567", "message": "hi"})
        assert sent.status_code == 409, sent.text
        assert sent.json()["error"] == "INSTANCE_NOT_CONNECTED"
        assert sent.json()["message"] == ("WhatsApp instance is not connected. Scan QR code "
                                          f"first. Last device error: {UNREACHABLE}")
