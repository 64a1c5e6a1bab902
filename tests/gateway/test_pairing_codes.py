"""Linking by a pairing code instead of a QR, through the real gateway and the four
services: the owner (or an admin) asks for a code for a phone number, on the Messaging
API and the Instance API; the simulated phone of that number types it and the instance
is Connected with that number. Codes are WhatsApp's: 8 characters of its alphabet."""

from __future__ import annotations

import re

from tests.gateway.test_v1_instance import ADMIN, instance_info, user_with_instance
from tests.support.services import gateway_client, running_services

WHATSAPP_CODE = re.compile(r"^[1-9A-HJ-NP-TV-Z]{8}$")  # no 0, I, O or U


async def test_a_phone_links_an_instance_by_typing_its_pairing_code(database_url,
                                                                    fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as api:
        owner = await user_with_instance(api, settings, "ann")
        other = await user_with_instance(api, settings, "bob")
        instance_id, keys = owner["instance_id"], owner["keys"]
        mine = {"Authorization": f"Bearer {owner['token']}"}
        path = f"/api/instances/{instance_id}/pairing-code"

        foreign = await api.post(path, json={"phone_number": "+27821234567"},
                                 headers={"Authorization": f"Bearer {other['token']}"})
        assert (foreign.status_code, foreign.json()["error"]) == (404, "NOT_FOUND")
        assert (await api.post(path, json={"phone_number": "27821234567"})).status_code == 401
        bad = await api.post(path, json={"phone_number": "12"}, headers=mine)
        assert (bad.status_code, bad.json()["error"]) == (400, "INVALID_REQUEST")
        extra = await api.post(path, json={"phone_number": "27821234567", "qr": 1},
                               headers=mine)
        assert extra.json()["message"] == "Unknown field: qr"

        first = await api.post(path, json={"phone_number": "+27 82 123 4567"}, headers=mine)
        assert first.status_code == 200, first.text
        issued = first.json()
        assert (issued["message"], issued["instance_id"]) == (
            "Pairing code generated successfully", instance_id)
        assert WHATSAPP_CODE.match(issued["pairing_code"])
        assert 170 <= issued["expires_in"] <= 180 and issued["expires_at"].endswith("Z")
        assert (await instance_info(api, keys)).json()["data"]["status"] == "Disconnected"

        v1 = await api.post("/api/v1/whatsapp/instance/pairing-code", params=keys,
                            json={"phoneNumber": "27821234567"})
        assert v1.status_code == 200, v1.text
        assert (v1.json()["success"], v1.json()["message"]) == (
            True, "Pairing code generated successfully")
        code = v1.json()["data"]["pairingCode"]
        assert WHATSAPP_CODE.match(code) and v1.json()["data"]["expiresIn"] > 170
        v1_bad = await api.post("/api/v1/whatsapp/instance/pairing-code", params=keys,
                                json={"phoneNumber": "call me"})
        assert v1_bad.status_code == 400 and v1_bad.json()["success"] is False
        v1_extra = await api.post("/api/v1/whatsapp/instance/pairing-code", params=keys,
                                  json={"phoneNumber": "27821234567", "pushName": "x"})
        assert v1_extra.json() == {"success": False, "error": "INVALID_REQUEST",
                                   "message": "Unknown field: pushName", "data": None}

        replaced = await api.post("/simulator/pairing-code", json={
            "code": issued["pairing_code"], "phone_number": "27821234567"})
        assert (replaced.status_code, replaced.json()["error"]) == (400, "INVALID_REQUEST")
        wrong_phone = await api.post("/simulator/pairing-code", json={
            "code": code, "phone_number": "27829999999"})
        assert wrong_phone.status_code == 400
        assert "another number" in wrong_phone.json()["message"]

        typed = f"{code[:4]}-{code[4:]}".lower()  # as the phone shows it, any case
        linked = await api.post("/simulator/pairing-code",
                                json={"code": typed, "phone_number": "+27821234567"})
        assert linked.status_code == 200, linked.text
        assert linked.json() == {"message": "Device linked successfully",
                                 "device_id": instance_id, "status": "Connected",
                                 "phone_number": "27821234567"}
        data = (await instance_info(api, keys)).json()["data"]
        assert (data["status"], data["whatsappNumber"]) == ("Connected", "27821234567")

        used = await api.post("/simulator/pairing-code",
                              json={"code": code, "phone_number": "27821234567"})
        assert used.status_code == 400
        again = await api.post(path, json={"phone_number": "27821234567"}, headers=mine)
        assert (again.status_code, again.json()["error"]) == (409, "ALREADY_CONNECTED")


async def test_an_admin_may_ask_for_any_instances_code(database_url, fresh_nats_url,
                                                       tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as api:
        owner = await user_with_instance(api, settings, "ann")
        boss = (await api.post("/api/auth/login", json={"username": "boss",
                                                        "password": "boss-password"})).json()
        asked = await api.post(f"/api/instances/{owner['instance_id']}/pairing-code",
                               json={"phone_number": "27821234567"},
                               headers={"Authorization": f"Bearer {boss['access_token']}"})
        assert asked.status_code == 200, asked.text
