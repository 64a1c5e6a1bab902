"""POST /api/instances/{id}/logout and /restart: the owner's (or an admin's) controls of
an instance's session; anyone else's id is NOT_FOUND."""

from __future__ import annotations

from tests.device.test_simulator import decode_qr_data_url
from tests.gateway.test_v1_instance import ADMIN, instance_info, user_with_instance
from tests.support.services import gateway_client, running_services


async def test_the_owner_restarts_and_logs_out_an_instance(database_url, fresh_nats_url,
                                                           tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as api:
        owner = await user_with_instance(api, settings, "ann")
        other = await user_with_instance(api, settings, "bob")
        keys, instance_id = owner["keys"], owner["instance_id"]
        assert (await instance_info(api, keys)).status_code == 200
        mine = {"Authorization": f"Bearer {owner['token']}"}
        theirs = {"Authorization": f"Bearer {other['token']}"}

        not_linked = await api.post(f"/api/instances/{instance_id}/restart", headers=mine)
        assert not_linked.status_code == 409
        assert not_linked.json()["error"] == "INSTANCE_NOT_CONNECTED"
        qr = (await api.get("/api/v1/whatsapp/instance/qrcode", params=keys)).json()["data"]
        await api.post("/simulator/scan", json={"qr": decode_qr_data_url(qr["qrCode"]),
                                                "phone_number": "15550002222"})

        foreign = await api.post(f"/api/instances/{instance_id}/logout", headers=theirs)
        assert foreign.status_code == 404 and foreign.json()["error"] == "NOT_FOUND"
        anonymous = await api.post(f"/api/instances/{instance_id}/logout")
        assert anonymous.status_code == 401

        restarted = await api.post(f"/api/instances/{instance_id}/restart", headers=mine)
        assert restarted.status_code == 200, restarted.text
        assert restarted.json() == {"message": "Instance restarted successfully",
                                    "instance_id": instance_id, "status": "Connected",
                                    "is_connected": True}
        out = await api.post(f"/api/instances/{instance_id}/logout", headers=mine)
        assert out.json() == {"message": "Instance logged out successfully",
                              "instance_id": instance_id, "status": "Disconnected",
                              "is_connected": False}
        data = (await api.get("/api/v1/whatsapp/instance", params=keys)).json()["data"]
        assert (data["status"], data["isConnected"], data["whatsappNumber"]) == (
            "Disconnected", False, None)
        qr = await api.get("/api/v1/whatsapp/instance/qrcode", params=keys)
        assert qr.status_code == 200  # a new QR links it again
