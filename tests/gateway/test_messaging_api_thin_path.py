"""The Messaging API's thin path through the real gateway and all four services, on both
stores (the e2e suite does the same through processes, on SQLite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.services import gateway_client, running_services


async def test_send_reaches_read_on_both_stores(database_url: str, fresh_nats_url: str,
                                                tmp_path: Path) -> None:
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                admin_user="boss", admin_password="boss-password") as settings, \
            gateway_client(settings) as api:
        created = await api.post("/api/auth/register",
                                 json={"username": "ann", "password": "tall-ladder-42"})
        assert created.status_code == 201, created.text
        user_id = created.json()["user_id"]
        boss = (await api.post("/api/auth/login", json={"username": "boss",
                                                        "password": "boss-password"})).json()
        granted = await api.post(f"/api/admin/users/{user_id}/credits", json={"amount": 2},
                                 headers={"Authorization": f"Bearer {boss['access_token']}"})
        assert granted.json()["credits"] == 2
        ann = (await api.post("/api/auth/login", json={"username": "ann",
                                                       "password": "tall-ladder-42"})).json()
        api.headers["Authorization"] = f"Bearer {ann['access_token']}"
        sent = await api.post("/api/messages/send-message",
                              json={"number": "+27821234567", "message": "hi"})
        assert sent.status_code == 200, sent.text
        queue_id = sent.json()["queue_id"]
        for _ in range(200):
            status = (await api.get(f"/api/messages/message-status/{queue_id}")).json()
            assert "status" in status, status
            if status["status"] == "Read":
                break
            await asyncio.sleep(0.05)
        assert status["status"] == "Read"
        assert status["number"] == "27821234567"
        assert (await api.get("/api/users/user/credits")).json()["credits"] == 1
        broke = await api.post("/api/messages/send-message",
                               json={"number": "27821234567", "message": "x" * 4097})
        assert broke.status_code == 400 and broke.json()["error"] == "INVALID_REQUEST"
