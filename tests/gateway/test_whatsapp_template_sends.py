"""POST /api/messages/send-message with a Meta template, through the real gateway and
the four services on the simulator: refused 400 UNSUPPORTED_BY_TRANSPORT with nothing
charged or queued (only the cloud transport has templates), a malformed one 400
INVALID_REQUEST naming the field, and the two kinds of templates kept apart."""

from __future__ import annotations

from tests.gateway.test_v1_instance import ADMIN
from tests.support.services import gateway_client, running_services

TEMPLATE = {"name": "order_update", "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}]}


async def test_a_template_send_is_refused_uncharged_without_the_cloud(
        database_url, fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as api:
        boss = (await api.post("/api/auth/login", json={"username": "boss",
                                                        "password": "boss-password"})).json()
        api.headers["Authorization"] = f"Bearer {boss['access_token']}"
        granted = await api.post(f"/api/admin/users/{boss['user_id']}/credits",
                                 json={"amount": 5})
        assert granted.status_code == 200, granted.text

        refused = await api.post("/api/messages/send-message",
                                 json={"number": "27821234567", "whatsapp_template": TEMPLATE})
        assert refused.status_code == 400, refused.text
        body = refused.json()
        assert (body["error"], body["code"]) == ("UNSUPPORTED_BY_TRANSPORT", 400)
        assert "need the cloud transport" in body["message"]
        assert "through simulator" in body["message"]

        for sent, why in [
                ({**TEMPLATE, "language": {"code": "en_US", "policy": "fallback"}},
                 "whatsapp_template.language.policy"),
                ({"name": "order_update"}, "whatsapp_template.language"),
                ({**TEMPLATE, "name": "Order Update"}, "whatsapp_template.name"),
                ({**TEMPLATE, "namespace": "x"}, "Unknown field: whatsapp_template.namespace")]:
            bad = await api.post("/api/messages/send-message",
                                 json={"number": "27821234567", "whatsapp_template": sent})
            assert (bad.status_code, bad.json()["error"]) == (400, "INVALID_REQUEST"), bad.text
            assert why in bad.json()["message"], bad.json()
        both = await api.post("/api/messages/send-message", json={
            "number": "27821234567", "template_id": 1, "whatsapp_template": TEMPLATE})
        assert both.status_code == 400
        assert "either a whatsapp_template or a message" in both.json()["message"]

        credits = (await api.get("/api/users/user/credits")).json()["credits"]
        history = (await api.get("/api/messages/messages")).json()
        assert (credits, history["pagination"]["total"]) == (5, 0)
