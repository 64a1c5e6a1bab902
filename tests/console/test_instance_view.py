"""GET /api/instances/{id}/status and /qrcode: the Instance API's instance and QR documents
for the owner's (or an admin's) token, through the real gateway and the four services;
anyone else's id is NOT_FOUND."""

from __future__ import annotations

from tests.device.test_simulator import decode_qr_data_url
from tests.gateway.test_v1_instance import ADMIN, instance_info, user_with_instance
from tests.support.services import gateway_client, running_services


async def test_the_owner_reads_status_and_qr_code_with_the_token_alone(
        database_url, fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as api:
        owner = await user_with_instance(api, settings, "ann")
        other = await user_with_instance(api, settings, "bob")
        instance_id = owner["instance_id"]
        mine = {"Authorization": f"Bearer {owner['token']}"}
        base = f"/api/instances/{instance_id}"

        before = await api.get(f"{base}/status", headers=mine)
        assert before.status_code == 200, before.text
        v1 = (await instance_info(api, owner["keys"])).json()["data"]
        # the Instance API's document, field for field; billing may start the
        # subscription between the two reads (on first use or on InstanceCreated)
        assert before.json().keys() == v1.keys()
        assert {**before.json(), "subscription": None} == {**v1, "subscription": None}
        assert before.json()["status"] == "Disconnected"

        qr = await api.get(f"{base}/qrcode", headers=mine)
        assert qr.status_code == 200, qr.text
        assert qr.json()["qrCode"].startswith("data:image/png;base64,")
        assert 0 < qr.json()["expiresIn"] <= 60
        scanned = await api.post("/simulator/scan", json={
            "qr": decode_qr_data_url(qr.json()["qrCode"]), "phone_number": "15550004444"})
        assert scanned.status_code == 200, scanned.text

        after = (await api.get(f"{base}/status", headers=mine)).json()
        assert after["status"] == "Connected" and after["isConnected"] is True
        assert after["whatsappNumber"] == "15550004444"
        linked = await api.get(f"{base}/qrcode", headers=mine)
        assert linked.status_code == 409 and linked.json()["error"] == "ALREADY_CONNECTED"

        theirs = {"Authorization": f"Bearer {other['token']}"}
        for path in ("status", "qrcode"):
            foreign = await api.get(f"{base}/{path}", headers=theirs)
            assert foreign.status_code == 404 and foreign.json()["error"] == "NOT_FOUND"
            unknown = await api.get(f"/api/instances/000000-000000/{path}", headers=mine)
            assert unknown.status_code == 404 and unknown.json()["error"] == "NOT_FOUND"
            assert (await api.get(f"{base}/{path}")).status_code == 401

        boss = (await api.post("/api/auth/login", json={
            "username": ADMIN["admin_user"], "password": ADMIN["admin_password"]})).json()
        seen = await api.get(f"{base}/status",
                             headers={"Authorization": f"Bearer {boss['access_token']}"})
        assert seen.status_code == 200 and seen.json()["instanceId"] == instance_id
