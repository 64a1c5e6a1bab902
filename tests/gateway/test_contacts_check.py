"""POST /api/contacts/check through the real gateway and the four services on the
simulator: per number true or false by the simulator's rule (numbers ending in 0000 have
no WhatsApp), one entry per distinct number, and the documented refusals."""

from __future__ import annotations

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
