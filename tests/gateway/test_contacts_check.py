"""POST /api/contacts/check through the real gateway and the four services on the
simulator: per number true or false by the simulator's rule (numbers ending in 0000 have
no WhatsApp), one entry per distinct number, and the documented refusals."""

from __future__ import annotations

from tests.device.test_simulator import decode_qr_data_url
from tests.gateway.test_v1_instance import ADMIN, user_with_instance
from tests.support.services import gateway_client, running_services


async def test_numbers_are_checked_one_answer_each(database_url, fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as api:
        owner = await user_with_instance(api, settings, "ann")
        assert (await api.post("/api/contacts/check",
                               json={"numbers": ["27821234567"]})).status_code == 401
        api.headers["Authorization"] = f"Bearer {owner['token']}"

        checked = await api.post("/api/contacts/check", json={
            "numbers": ["+27 82 123 4567", "27821234567", "27820000000"]})
        assert checked.status_code == 200, checked.text
        assert checked.json() == {"numbers": [
            {"number": "27821234567", "on_whatsapp": True},
            {"number": "27820000000", "on_whatsapp": False}]}

        for body, why in [({"numbers": []}, "numbers"), ({"numbers": ["1"] * 51}, "numbers"),
                          ({"numbers": ["12"]}, "Invalid phone number: 12"),
                          ({"numbers": ["call me"]}, "numbers.0"),
                          ({"numbers": ["27821234567"], "device": "x"}, "Unknown field")]:
            refused = await api.post("/api/contacts/check", json=body)
            assert refused.status_code == 400, (body, refused.text)
            assert refused.json()["error"] == "INVALID_REQUEST"
            assert why in refused.json()["message"], refused.json()


async def test_an_instance_checks_numbers_through_its_own_number(database_url, fresh_nats_url,
                                                                 tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as api:
        owner = await user_with_instance(api, settings, "ann")
        keys, path = owner["keys"], "/api/v1/whatsapp/contacts/check"
        body = {"phoneNumbers": ["27821234567", "27820000000"]}
        unlinked = await api.post(path, params=keys, json=body)
        assert unlinked.status_code == 200, unlinked.text
        assert unlinked.json() == {"success": True, "message": "Numbers checked successfully",
                                   "data": {"numbers": [
                                       {"phoneNumber": "27821234567", "onWhatsApp": None},
                                       {"phoneNumber": "27820000000", "onWhatsApp": None}]}}
        qr = (await api.get("/api/v1/whatsapp/instance/qrcode", params=keys)).json()["data"]
        await api.post("/simulator/scan", json={"qr": decode_qr_data_url(qr["qrCode"]),
                                                "phone_number": "15550002222"})
        linked = (await api.post(path, params=keys, json=body)).json()["data"]["numbers"]
        assert [n["onWhatsApp"] for n in linked] == [True, False]
        refused = await api.post(path, params=keys, json={"phoneNumbers": []})
        assert (refused.status_code, refused.json()["success"]) == (400, False)
        extra = await api.post(path, params=keys, json={**body, "numbers": ["1"]})
        assert extra.json()["message"] == "Unknown field: numbers"
        wrong = await api.post(path, params={**keys, "secretKey": "sk_nope"}, json=body)
        assert wrong.json()["error"] == "INVALID_CREDENTIALS"
