"""Inbound messages end to end, on the stack as `switchboard up` runs it (simulator
transport): a phone's reply reaches both APIs' inboxes, the owner's webhook and the SSE
stream exactly once; pool replies are routed by conversation affinity; received media
downloads for its owner only."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from services.device.app.pool import pool_phone_number
from tests.gateway.webhook_receiver import Receiver, receiver
from tests.support.load import Tenant, new_tenant
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

ADMIN = ("root", "root-password-1")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


UNLIMITED = {f"rate_limit_{c}": "0" for c in ("status", "auth", "other", "messages")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("inbound"), admin_user=ADMIN[0],
                       admin_password=ADMIN[1], webhook_allow_private="127.0.0.0/8",
                       webhook_poll_seconds="0.1", log_level="WARNING",
                       **UNLIMITED) as running:
        yield running


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the module's stack."""
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        yield client


async def admin_token(api: httpx.AsyncClient) -> str:
    login = await api.post("/api/auth/login", json=dict(zip(("username", "password"), ADMIN,
                                                             strict=True)))
    return str(login.json()["access_token"])


def bearer(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.token}"}


async def until(check: Any, within: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.1)


async def reply(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await api.post("/simulator/reply", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def inbox(api: httpx.AsyncClient, tenant: Tenant, **params: Any) -> dict[str, Any]:
    answer = await api.get("/api/messages/inbox", params=params, headers=bearer(tenant))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def incoming(api: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    answer = await api.get("/api/v1/whatsapp/messages/incoming", params=tenant.keys)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def sse_events(api: httpx.AsyncClient, tenant: Tenant, events: list[dict[str, Any]],
                     ready: asyncio.Event) -> None:
    async with api.stream("GET", "/api/messages/stream", headers=bearer(tenant)) as stream:
        kind = ""
        async for line in stream.aiter_lines():
            if line.startswith(": connected"):
                ready.set()
            elif line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "message.received":
                events.append(json.loads(line.removeprefix("data: ")))


async def watched(api: httpx.AsyncClient, tenant: Tenant, hook: Receiver
                  ) -> tuple[asyncio.Task[None], list[dict[str, Any]]]:
    made = await api.post("/api/webhooks", json={"url": hook.url, "secret": "s3cret"},
                          headers=bearer(tenant))
    assert made.status_code == 201, made.text
    events: list[dict[str, Any]] = []
    ready = asyncio.Event()
    task = asyncio.create_task(sse_events(api, tenant, events, ready))
    await asyncio.wait_for(ready.wait(), 10)
    return task, events


async def test_a_reply_reaches_both_inboxes_the_webhook_and_the_stream_once(api, unique):
    owner = await new_tenant(api, await admin_token(api), f"ann-{unique}", 10,
                             phone="15550001111")
    with receiver("s3cret") as hook:
        stream, streamed = await watched(api, owner, hook)
        sent = await api.post("/api/v1/whatsapp/send", params=owner.keys, json={
            "phoneNumber": "27821110000", "message": "Your order shipped"})
        assert sent.status_code == 200, sent.text
        message_id = sent.json()["data"]["messageId"]
        far = await until(lambda: _inbox_of(api, "27821110000"))
        answered = await reply(api, **{"from": "27821110000", "to": "+15550001111",
                                       "message": "Thanks!", "quoted_id":
                                           far[0]["message_id"], "message_id": unique})
        assert answered["message_id"] == unique
        again = await reply(api, **{"from": "27821110000", "to": "15550001111",
                                    "message": "Thanks!", "message_id": unique})  # a retry
        assert again["message_id"] == unique
        page = await until(lambda: _listed(inbox(api, owner)))
        await until(lambda: _ready(streamed and any(
            b["event"] == "message.received" for b in hook.accepted())))
        await asyncio.sleep(1.0)  # room for a second copy anywhere, were there one
        stream.cancel()
    [item] = page["messages"]
    assert (item["from"], item["to"], item["type"], item["message"], item["media_url"]) == (
        "27821110000", "15550001111", "text", "Thanks!", None)
    assert item["quoted_message_id"] == message_id and item["received_at"].endswith("Z")
    assert page["pagination"] == {"page": 1, "per_page": 10, "total": 1, "pages": 1}
    v1 = await incoming(api, owner)
    assert v1["success"] is True
    [camel] = v1["data"]["messages"]
    assert (camel["messageId"], camel["from"], camel["message"], camel["mediaUrl"]) == (
        item["message_id"], "27821110000", "Thanks!", None)
    assert not camel["receivedAt"].endswith("Z")
    # the webhook also has the send's statuses: one received message among them
    [posted] = [b for b in hook.accepted() if b["event"] == "message.received"]
    assert [c[1]["x-switchboard-event"] for c in hook.calls
            if c[2]["event"] == "message.received"] == ["message.received"]
    assert all(c[3] for c in hook.calls)  # signed
    assert posted["message_id"] == item["message_id"] and posted["message"] == "Thanks!"
    assert streamed == [posted]


async def test_pool_replies_go_to_the_last_sender_else_to_nobody(api, unique):
    token = await admin_token(api)
    bob = await new_tenant(api, token, f"bob-{unique}", 10, phone="15550002222")
    sent = await api.post("/api/messages/send-message", headers=bearer(bob), json={
        "number": "27822220000", "message": "Hello from the pool"})
    assert sent.status_code == 200, sent.text
    far = await until(lambda: _inbox_of(api, "27822220000"))
    pool_number = far[0]["from"]
    assert pool_number in {pool_phone_number(i) for i in (1, 2, 3)}
    await reply(api, **{"from": "27822220000", "to": pool_number, "message": "Hi Bob"})
    await reply(api, **{"from": "27823330000", "to": pool_number, "message": "Who?"})
    page = await until(lambda: _listed(inbox(api, bob)))
    assert [m["message"] for m in page["messages"]] == ["Hi Bob"]
    await asyncio.sleep(0.5)
    assert (await inbox(api, bob))["pagination"]["total"] == 1  # the stranger's is not his
    assert (await incoming(api, bob))["data"]["messages"] == []  # nor his instance's


async def test_received_media_downloads_for_its_owner_only(api, unique):
    token = await admin_token(api)
    cat = await new_tenant(api, token, f"cat-{unique}", 10, phone="15550003333")
    dan = await new_tenant(api, token, f"dan-{unique}", 10, phone="15550004444")
    await reply(api, **{"from": "27824440000", "to": "15550003333", "message": "a photo",
                        "media": {"content": base64.b64encode(PNG).decode(),
                                  "mime_type": "image/png", "filename": "photo.png"}})
    page = await until(lambda: _listed(inbox(api, cat)))
    [item] = page["messages"]
    assert item["type"] == "image" and item["media"]["sha256"] == hashlib.sha256(
        PNG).hexdigest()
    got = await api.get(item["media_url"], headers=bearer(cat))
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"] == 'attachment; filename="photo.png"'
    [camel] = (await incoming(api, cat))["data"]["messages"]
    v1 = await api.get(camel["mediaUrl"], params=cat.keys)
    assert v1.status_code == 200 and v1.content == PNG
    refused = await api.get(item["media_url"], headers=bearer(dan))
    assert refused.status_code == 404 and refused.json()["error"] == "NOT_FOUND"
    refused = await api.get(camel["mediaUrl"], params=dan.keys)
    assert refused.status_code == 404 and refused.json()["error"] == "NOT_FOUND"


async def _inbox_of(api: httpx.AsyncClient, phone: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/simulator/inbox/{phone}")
    return list(answer.json()["messages"]) if answer.status_code == 200 else []


async def _listed(page: Any) -> dict[str, Any] | None:
    found = await page
    return found if found["messages"] else None


async def _ready(value: Any) -> Any:
    return value
