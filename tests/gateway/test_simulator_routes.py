"""The simulator's phone side over REST: inboxes (a Messaging API send lands once),
phone events, refusals; and no /simulator routes at all with another transport."""

from __future__ import annotations

import asyncio
import secrets

import httpx

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.gateway.test_v1_instance import ADMIN
from tests.support.services import gateway_client, running_services


async def test_a_pool_send_lands_once_in_the_recipients_inbox(database_url, fresh_nats_url,
                                                              tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path, **ADMIN) as settings, \
            gateway_client(settings) as api:
        boss = (await api.post("/api/auth/login", json={"username": "boss",
                                                        "password": "boss-password"})).json()
        granted = await api.post(f"/api/admin/users/{boss['user_id']}/credits",
                                 json={"amount": 5},
                                 headers={"Authorization": f"Bearer {boss['access_token']}"})
        assert granted.status_code == 200, granted.text
        api.headers["Authorization"] = f"Bearer {boss['access_token']}"
        sent = await api.post("/api/messages/send-message",
                              json={"number": "+27821234567", "message": "hello inbox"})
        assert sent.status_code == 200, sent.text
        assert (sent.json()["available_devices"], sent.json()["total_devices"]) == (3, 3)
        for _ in range(100):
            inbox = (await api.get("/simulator/inbox/27821234567")).json()
            if inbox["count"]:
                break
            await asyncio.sleep(0.05)
        [received] = inbox["messages"]
        assert (received["message_id"], received["body"]) == (
            f"sb-{sent.json()['queue_id']}", "hello inbox")
        assert received["from"].startswith("1555") and received["received_at"].endswith("Z")
        assert (await api.get("/simulator/inbox/27820000000")).json() == {
            "phone_number": "27820000000", "count": 0, "messages": []}

        dropped = await api.post("/simulator/phone-event",
                                 json={"device_id": "pool-2", "event": "logout"})
        assert dropped.json()["status"] == "Disconnected"
        unknown = await api.post("/simulator/phone-event",
                                 json={"device_id": "nope", "event": "ban"})
        assert unknown.status_code == 404 and unknown.json()["error"] == "NOT_FOUND"
        bad = await api.post("/simulator/scan", json={"qr": "2@not-ours", "phone_number": "1"})
        assert bad.status_code == 400 and bad.json()["error"] == "INVALID_REQUEST"
        wrong = await api.post("/simulator/scan", json={"qr": "x", "phone_number": "abc"})
        assert wrong.status_code == 400


async def test_no_simulator_routes_with_another_transport(nats_url, tmp_path):
    app = create_app(GatewaySettings(transport="cloud", var_dir=tmp_path, nats_url=nats_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as api:
            for path in ("/simulator/inbox/15550001111",):
                found = await api.get(path)
                assert found.status_code == 404 and found.json()["error"] == "NOT_FOUND"
            scan = await api.post("/simulator/scan", json={"qr": "x", "phone_number": "1"})
            assert scan.status_code == 404


STRONG = {"environment": "production", "jwt_secret": secrets.token_hex(32),
          "secret_pepper": secrets.token_hex(32), "admin_user": "boss",
          "admin_password": "Quiet-Harbor-Lamp-93"}


async def test_outside_local_use_the_simulator_takes_an_admin_token(database_url,
                                                                     fresh_nats_url, tmp_path):
    """The simulator transport on a non-local deployment once let anyone read every
    tenant's messages and ban any device: now 401 without a token, 403 for a user who is
    not an admin, and the phone side only for an admin."""
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                **STRONG) as settings, gateway_client(settings) as api:
        boss = (await api.post("/api/auth/login", json={
            "username": "boss", "password": STRONG["admin_password"]})).json()
        admin = {"Authorization": f"Bearer {boss['access_token']}"}
        await api.post(f"/api/admin/users/{boss['user_id']}/credits", json={"amount": 1},
                       headers=admin)
        sent = await api.post("/api/messages/send-message", headers=admin,
                              json={"number": "27821234567", "message": "tenant secret"})
        assert sent.status_code == 200, sent.text
        made = await api.post("/api/auth/register",
                              json={"username": "ann", "password": "tall-ladder-42"})
        assert made.status_code == 201, made.text
        ann = (await api.post("/api/auth/login", json={"username": "ann",
                                                       "password": "tall-ladder-42"})).json()
        user = {"Authorization": f"Bearer {ann['access_token']}"}
        for headers, status, code in [({}, 401, "UNAUTHORIZED"), (user, 403, "FORBIDDEN")]:
            for call in (api.get("/simulator/inbox/27821234567", headers=headers),
                         api.post("/simulator/phone-event", headers=headers,
                                  json={"device_id": "pool-1", "event": "ban"}),
                         api.post("/simulator/scan", headers=headers,
                                  json={"qr": "x", "phone_number": "1"})):
                refused = await call
                assert (refused.status_code, refused.json()["error"]) == (status, code)
                assert "tenant secret" not in refused.text
        for _ in range(100):
            inbox = (await api.get("/simulator/inbox/27821234567", headers=admin)).json()
            if inbox["count"]:
                break
            await asyncio.sleep(0.05)
        assert [m["body"] for m in inbox["messages"]] == ["tenant secret"]
