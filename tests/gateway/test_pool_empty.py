"""A send no device could ever take is refused uncharged, and one that no device takes
in time fails and is refunded: the real gateway and the four services, on both stores."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.test_billing_credits import until
from tests.gateway.test_idempotency import lose_the_answer
from tests.gateway.test_webhooks_api import _user as user_with_credits
from tests.support.services import gateway_client, running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
ANN = {"username": "ann", "password": "tall-ladder-42"}
# the cloud transport, whose pool has no linked device
CLOUD = {"transport": "cloud", "cloud_base_url": "http://127.0.0.1:9",
         "cloud_access_token": "token", "cloud_phone_number_ids": {"biz-1": "1002003"}}


async def _signed_in(api: httpx.AsyncClient, credits: int | None = None) -> None:
    """Ann's token on `api`: registered and granted `credits` first, unless None (she
    exists from an earlier run)."""
    if credits is not None:
        api.headers.update(await user_with_credits(api, ANN["username"], credits))
        return
    ann = (await api.post("/api/auth/login", json=ANN)).json()
    api.headers["Authorization"] = f"Bearer {ann['access_token']}"


async def _pool(api: httpx.AsyncClient) -> dict[str, Any]:
    """/health's pool, once the device service answered the probe within its 1 s (the
    pool is null in a probe it did not)."""
    seen: list[dict[str, Any]] = []

    async def answered() -> bool:
        health = await api.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        seen.append(health.json())
        return health.json()["pool"] is not None

    await until(answered, "the device service's pool in /health")
    return dict(seen[-1]["pool"])


async def test_with_no_linked_pool_device_of_the_transport_sends_are_refused_uncharged(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    """The simulator's pool, linked in an earlier run, is not the cloud transport's pool:
    after the switch nothing could send a pool message."""
    async with running_services(database_url, fresh_nats_url, tmp_path, sim_pool=2,
                                **ADMIN) as settings, gateway_client(settings) as api:
        await _signed_in(api, credits=3)
        assert await _pool(api) == {"transport": "simulator", "linked_devices": 2,
                                    "available_devices": 2, "total_devices": 2,
                                    "empty": False}
    async with running_services(database_url, fresh_nats_url, tmp_path, **CLOUD,
                                **ADMIN) as settings, gateway_client(settings) as api:
        await _signed_in(api)
        assert await _pool(api) == {"transport": "cloud", "linked_devices": 0,
                                    "available_devices": 0, "total_devices": 0,
                                    "empty": True}
        one = await api.post("/api/messages/send-message",
                             json={"number": "27821234567", "message": "hi"})
        bulk = await api.post("/api/messages/send-bulk-message",
                              json={"numbers": ["27821234567", "27821234568"],
                                    "message": "hi"})
        for refused in (one, bulk):
            assert refused.status_code == 409, refused.text
            body = refused.json()
            assert (body["error"], body["code"]) == ("INSTANCE_NOT_CONNECTED", 409)
            assert "No WhatsApp number is linked to this server's pool (cloud transport)" \
                in body["message"]
        assert (await api.get("/api/users/user/credits")).json()["credits"] == 3
        history = (await api.get("/api/messages/messages")).json()
        assert history["pagination"]["total"] == 0


async def test_an_idempotent_retry_after_the_pool_emptied_answers_as_the_first_attempt(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    """Sends with an Idempotency-Key queued under the simulator's pool; after the switch
    to an empty pool a retry answers as the first attempt did, charging nothing new:
    replayed when the first answer was kept, run again (same ids) when it was lost."""
    one = {"number": "27821234567", "message": "hi"}
    bulk = {"numbers": ["27821234567", "27821234568"], "message": "hi"}
    sends = {"kept": ("/api/messages/send-message", one),
             "lost-one": ("/api/messages/send-message", one),
             "lost-bulk": ("/api/messages/send-bulk-message", bulk)}
    first = {}
    async with running_services(database_url, fresh_nats_url, tmp_path, sim_pool=1,
                                **ADMIN) as settings, gateway_client(settings) as api:
        await _signed_in(api, credits=5)
        for key, (path, body) in sends.items():
            first[key] = await api.post(path, json=body, headers={"Idempotency-Key": key})
            assert first[key].status_code == 200, first[key].text
    for key in ("lost-one", "lost-bulk"):
        await lose_the_answer(database_url, key)
    async with running_services(database_url, fresh_nats_url, tmp_path, **CLOUD,
                                **ADMIN) as settings, gateway_client(settings) as api:
        await _signed_in(api)
        assert (await _pool(api))["empty"] is True
        for key, (path, body) in sends.items():
            again = await api.post(path, json=body, headers={"Idempotency-Key": key})
            assert again.status_code == 200, again.text
            if key == "kept":  # its answer, as it was kept
                assert again.json() == first[key].json()
                assert again.headers["Idempotent-Replayed"] == "true"
            else:  # run again: the same messages, today's figures
                ids = "queue_ids" if "bulk" in key else "queue_id"
                assert again.json()[ids] == first[key].json()[ids]
                assert again.json()["remaining_credits"] == 1
        fresh = await api.post("/api/messages/send-message", json=one,
                               headers={"Idempotency-Key": "new"})
        assert fresh.status_code == 409 and fresh.json()["error"] == "INSTANCE_NOT_CONNECTED"
        assert (await api.get("/api/users/user/credits")).json()["credits"] == 1


async def _settled(api: httpx.AsyncClient, queue_id: str, within: float) -> dict[str, Any]:
    for _ in range(int(within / 0.2)):
        status = (await api.get(f"/api/messages/message-status/{queue_id}")).json()
        if status["is_complete"]:
            return dict(status)
        await asyncio.sleep(0.2)
    raise AssertionError(f"{queue_id} still {status['status']} after {within} s")


async def test_a_message_no_device_takes_in_time_fails_and_is_refunded_once_across_a_restart(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    """The pool's one device is reconnecting (so the send is taken), and stays away; the
    device service restarts meanwhile; the expiry fails the message and billing gives
    the credit back, once."""
    stack = {"sim_pool": 1, "dispatch_queue_expiry_seconds": 4,
             "dispatch_ack_wait_seconds": 3, **ADMIN}
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                **stack) as settings, gateway_client(settings) as api:
        await _signed_in(api, credits=2)
        dropped = await api.post("/simulator/phone-event", json={
            "device_id": "pool-1", "event": "drop", "outage_seconds": 600})
        assert dropped.status_code == 200, dropped.text
        assert (await _pool(api))["linked_devices"] == 1
        sent = await api.post("/api/messages/send-message",
                              json={"number": "27821234567", "message": "hi"})
        assert sent.status_code == 200, sent.text
        queue_id = sent.json()["queue_id"]
        assert (await api.get("/api/users/user/credits")).json()["credits"] == 1
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                **stack) as settings, gateway_client(settings) as api:
        await _signed_in(api)
        status = await _settled(api, queue_id, within=40)
        assert (status["status"], status["is_error"]) == ("Failed", True)
        assert status["error_message"] == \
            "no WhatsApp device took the message within 4 s of queueing"
        for _ in range(50):
            credits = (await api.get("/api/users/user/credits")).json()["credits"]
            if credits != 1:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # redeliveries meanwhile change nothing
        assert (await api.get("/api/users/user/credits")).json()["credits"] == 2
        assert (await api.get(f"/api/messages/message-status/{queue_id}")).json() == status
