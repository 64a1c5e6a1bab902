"""Webhooks through the real gateway and all four services, on both stores, delivered to
a real HTTP receiver that checks signatures and fails the first attempts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.gateway.webhook_receiver import Receiver, receiver
from tests.support.services import gateway_client, running_services

ORDER = ["Queued", "Sending", "Sent", "Delivered", "Read"]
FAST = {"webhook_backoff_base_seconds": 0.05, "webhook_backoff_cap_seconds": 0.2,
        "webhook_backoff_jitter": 0.0, "webhook_poll_seconds": 0.05,
        "webhook_allow_private": "127.0.0.0/8",  # the test receivers' addresses
        "admin_user": "boss", "admin_password": "boss-password"}


async def _user(api: httpx.AsyncClient, name: str, credits: int) -> dict[str, str]:
    created = await api.post("/api/auth/register",
                             json={"username": name, "password": "tall-ladder-42"})
    assert created.status_code == 201, created.text
    boss = (await api.post("/api/auth/login", json={"username": "boss",
                                                    "password": "boss-password"})).json()
    if credits:
        granted = await api.post(f"/api/admin/users/{created.json()['user_id']}/credits",
                                 json={"amount": credits},
                                 headers={"Authorization": f"Bearer {boss['access_token']}"})
        assert granted.status_code == 200, granted.text
    login = (await api.post("/api/auth/login", json={"username": name,
                                                     "password": "tall-ladder-42"})).json()
    return {"Authorization": f"Bearer {login['access_token']}"}


async def _wait_for_read(hook: Receiver, queue_id: str) -> list[dict[str, object]]:
    for _ in range(300):
        mine = [b for b in hook.accepted() if b["queue_id"] == queue_id]
        if mine and mine[-1]["status"] == "Read":
            return mine
        await asyncio.sleep(0.05)
    raise AssertionError(f"no Read delivered; calls: {hook.calls}")


async def _settled_log(api: httpx.AsyncClient, headers: dict[str, str],
                       webhook_id: str) -> list[dict[str, object]]:
    """The delivery log once no delivery is pending (the last answer is recorded just
    after the receiver has seen it)."""
    for _ in range(100):
        log = (await api.get(f"/api/webhooks/{webhook_id}/deliveries",
                             headers=headers)).json()["deliveries"]
        if all(d["state"] != "pending" for d in log):
            break
        await asyncio.sleep(0.05)
    return list(log)


async def test_status_changes_reach_a_failing_receiver_in_order(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    with receiver("s3cret-value", fail_first=3) as hook:
        async with running_services(database_url, fresh_nats_url, tmp_path,
                                    **FAST) as settings, gateway_client(settings) as api:
            ann = await _user(api, "ann", credits=1)
            made = await api.post("/api/webhooks", headers=ann,
                                  json={"url": hook.url, "secret": "s3cret-value"})
            assert made.status_code == 201, made.text
            webhook_id = made.json()["webhook_id"]
            assert made.json()["secret"] == "s3cret-value"
            sent = await api.post("/api/messages/send-message", headers=ann,
                                  json={"number": "+27821234567", "message": "hi"})
            assert sent.status_code == 200, sent.text
            queue_id = sent.json()["queue_id"]
            got = await _wait_for_read(hook, queue_id)
            log = await _settled_log(api, ann, webhook_id)
    words = [b["status"] for b in got]
    assert [ORDER.index(w) for w in words] == sorted({ORDER.index(w) for w in words})
    assert {"Sent", "Delivered", "Read"} <= set(words)
    assert all(b["number"] == "27821234567" and b["event"] == "message.status" for b in got)
    assert [c[0] for c in hook.calls[:3]] == [500, 500, 500]
    assert all(ok for _, _, _, ok in hook.calls)
    ids = [h["x-switchboard-event-id"] for code, h, _, _ in hook.calls if code == 200]
    assert len(ids) == len(set(ids)) and all(h["x-switchboard-timestamp"].isdigit()
                                             for _, h, _, _ in hook.calls)
    retried = [d for d in log if d["attempts"] > 1]
    assert retried and retried[0]["state"] == "delivered"
    assert retried[0]["last_status_code"] == 200 and retried[0]["delivered_at"]
    assert {d["state"] for d in log} <= {"delivered", "skipped"}


async def test_webhooks_are_listed_without_secrets_and_owned(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                **FAST) as settings, gateway_client(settings) as api:
        ann = await _user(api, "ann", credits=0)
        bob = await _user(api, "bob", credits=0)
        made = (await api.post("/api/webhooks", headers=ann,
                               json={"url": "https://93.184.215.14/sb"})).json()
        assert made["secret"].startswith("whsec_")
        listed = (await api.get("/api/webhooks", headers=ann)).json()["webhooks"]
        assert [(h["webhook_id"], h["url"]) for h in listed] == \
            [(made["webhook_id"], "https://93.184.215.14/sb")]
        assert "secret" not in listed[0]
        assert (await api.get("/api/webhooks", headers=bob)).json()["webhooks"] == []
        bad = await api.post("/api/webhooks", headers=ann, json={"url": "ftp://x.example"})
        assert bad.status_code == 400 and bad.json()["error"] == "INVALID_REQUEST"
        for path in (f"/api/webhooks/{made['webhook_id']}", "/api/webhooks/whk_nope"):
            gone = await api.delete(path, headers=bob)
            assert gone.status_code == 404 and gone.json()["error"] == "NOT_FOUND"
        foreign_log = await api.get(f"/api/webhooks/{made['webhook_id']}/deliveries",
                                    headers=bob)
        assert foreign_log.status_code == 404
        assert (await api.delete(f"/api/webhooks/{made['webhook_id']}",
                                 headers=ann)).status_code == 200
        assert (await api.get("/api/webhooks", headers=ann)).json()["webhooks"] == []
        again = await api.delete(f"/api/webhooks/{made['webhook_id']}", headers=ann)
        assert again.status_code == 404
        assert (await api.get("/api/webhooks")).status_code == 401
