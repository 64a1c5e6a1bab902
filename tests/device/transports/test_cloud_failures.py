"""Meta's failures after acceptance, and its rate limits, end to end.

Status webhooks and error answers are data in Meta's documented shapes
(data/cloud_status_webhooks.json, data/cloud_error_bodies.json), read through the real
parsing paths: the gateway's webhook parser and the device's CloudWebhookService mapping
for statuses, the Graph API client for error answers. Then the whole stack (the four
services, the gateway, the Cloud API stand-in as Meta): a signed `failed` webhook after
a 200 ends the message Failed and refunds its credit, once; a 130429 with Retry-After is
sent later, not failed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.clients import Clients
from gateway.routes.cloud_webhook import statuses_in
from kernel.config import SERVICES
from kernel.host import ServiceHost
from launcher.natsserver import free_port
from launcher.settings import StackSettings
from services.device.adapters.cloud.errors import CloudUnavailableError, GraphError
from services.device.app.transport import Undelivered
from services.device.domain.dispatch import Dispatch
from services.device.domain.events import MessageFailed
from services.device.ports.cloud_webhook import status_from
from switchboard.auth.v1 import auth_pb2
from tests.device.transports.cloud_standin import FakeCloudApi, Script, sign
from tests.device.transports.cloud_support import (
    NUMBER_ID,
    TOKEN,
    Sleeps,
    cloud_transport,
)
from tests.support.services import _build, _store_url, gateway_client

DATA = Path(__file__).parent / "data"
STATUSES = json.loads((DATA / "cloud_status_webhooks.json").read_text())
ANSWERS = json.loads((DATA / "cloud_error_bodies.json").read_text())["answers"]
SECRET = "meta-app-secret"
ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
WAIT = 30.0


def recorded(name: str, wamid: str, tracker: str) -> dict[str, Any]:
    text = json.dumps(STATUSES[name]).replace("WAMID", wamid).replace("TRACKER", tracker)
    return json.loads(text)


@pytest.fixture
async def transport(meta, ledger, recorder):
    transport = cloud_transport(meta.url, ledger, recorder, Sleeps())
    assert await transport.resume("dev-1", "")
    yield transport
    await transport.close()


@pytest.mark.parametrize(("name", "code", "words"), [
    ("failed_131026", 131026, "message undeliverable): Unable to deliver the message"),
    ("failed_131047", 131047, "re-engagement required"),
    ("failed_130472", 130472, "experiment): Failed to send message because this user"),
])
async def test_a_recorded_failed_status_fails_the_message_with_meta_s_reason(
        transport, meta, recorder, name, code, words):
    await transport.send("dev-1", "+44 7700 900123", "Hello", "sb-m1")
    wamid = meta.accepted[0]["wamid"]
    statuses = [status_from(s) for s in statuses_in(recorded(name, wamid, "sb-m1"))]
    tally = await transport.accept_statuses(statuses)
    [failed] = recorder.of(Undelivered)
    assert (failed.device_id, failed.transport_message_id) == ("dev-1", "sb-m1")
    assert failed.reason.startswith(f"WhatsApp Cloud API error {code} (") and words in \
        failed.reason
    assert tally.failed == 1


async def test_recorded_statuses_in_any_order_fail_a_message_once(transport, meta, recorder):
    await transport.send("dev-1", "+44 7700 900123", "Hello", "sb-m1")
    wamid = meta.accepted[0]["wamid"]
    webhooks = [recorded(n, wamid, "sb-m1") for n in
                ("read", "delivered", "failed_131026", "failed_131026", "delivered")]
    for webhook in webhooks:
        await transport.accept_statuses([status_from(s) for s in statuses_in(webhook)])
    assert len(recorder.of(Undelivered)) == 1
    dispatch = Dispatch("m1")  # and the dispatch stream records the failure once
    dispatch.claim("dev-1", 7)
    dispatch.mark_sent("dev-1", datetime.now(UTC))
    dispatch.mark_read(datetime.now(UTC))
    for _ in range(2):
        dispatch.undeliverable(recorder.of(Undelivered)[0].reason)
    assert [type(e) for e in dispatch.pending].count(MessageFailed) == 1


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: str(a["body"]["error"]["code"]))
async def test_recorded_error_answers_are_read_as_meta_means_them(transport, meta, answer):
    error = answer["body"]["error"]
    headers = {"Retry-After": answer["retry_after"]} if "retry_after" in answer else {}
    meta.scripts.extend([Script(answer["http"], answer["body"], headers)] * 4)
    with pytest.raises(Exception) as caught:
        await transport.api.send_message(NUMBER_ID, {"messaging_product": "whatsapp",
                                                     "to": "447700900123", "type": "text",
                                                     "text": {"body": "x"}})
    raised = caught.value
    if answer["handling"] in ("transient", "paced"):
        assert isinstance(raised, CloudUnavailableError), raised
        assert str(error["code"]) in str(raised)
        if "retry_after" in answer:
            assert raised.retry_after == float(answer["retry_after"])
    else:
        assert isinstance(raised, GraphError) and raised.code == error["code"]
        assert raised.handling.value == answer["handling"]
        details = error.get("error_data", {}).get("details") or error["message"]
        assert raised.reason.endswith(details)


# The whole stack


@asynccontextmanager
async def hosts(names: list[str], database_url: str, base: dict[str, Any]
                ) -> AsyncIterator[list[ServiceHost]]:
    started = [ServiceHost(n, StackSettings(database_url=_store_url(database_url, n), **base),
                           _build(n)) for n in names]
    try:
        await asyncio.gather(*(h.start(bind=h.settings.service_addr(h.service))
                               for h in started))
        yield started
    finally:
        await asyncio.gather(*(h.stop(grace=1.0) for h in started))


@asynccontextmanager
async def cloud_stack(database_url: str, nats_url: str, tmp_path: Path, meta: FakeCloudApi
                      ) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """Auth, billing, messaging and the gateway; then an admin's instance (so a pooled
    device) mapped to the stand-in's number; then the device service with the cloud
    transport, and the instance activated by its QR request."""
    base: dict[str, Any] = {
        "nats_url": nats_url, "var_dir": tmp_path, "cloud_app_secret": SECRET,
        "transport": "cloud", "cloud_base_url": meta.url, "cloud_access_token": TOKEN,
        "cloud_retry_base_ms": 10, **ADMIN,
        **{f"{n}_addr": f"127.0.0.1:{free_port()}" for n in SERVICES}}
    async with hosts(["auth", "billing", "messaging"], database_url, base), \
            gateway_client(StackSettings(**base)) as api:
        boss = (await api.post("/api/auth/login", json={
            "username": "boss", "password": "boss-password"})).json()
        made = await _instance_of(StackSettings(**base), boss["user_id"])
        base["cloud_phone_number_ids"] = {made.instance.instance_id: NUMBER_ID}
        async with hosts(["device"], database_url, base):
            keys = {"publicKey": made.instance.public_key, "secretKey": made.secret_key}
            await _linked(api, keys)
            yield api, {"Authorization": f"Bearer {boss['access_token']}"}


async def _instance_of(settings: StackSettings, user_id: int) -> Any:
    clients = Clients.connect(settings)
    try:
        return await clients.auth.CreateInstance(auth_pb2.CreateInstanceRequest(
            user_id=user_id, instance_name="Cloud number"))
    finally:
        await clients.close()


async def _linked(api: httpx.AsyncClient, keys: dict[str, str]) -> None:
    async def connected() -> bool:
        qr = await api.get("/api/v1/whatsapp/instance/qrcode", params=keys)
        info = await api.get("/api/v1/whatsapp/instance", params=keys)
        return qr.status_code in (200, 409) and info.status_code == 200 and \
            info.json()["data"]["isConnected"]
    await until(connected, "the cloud number activated")


async def until(check: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not await check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


async def user_with_credits(api: httpx.AsyncClient, boss: dict[str, str], amount: int
                            ) -> dict[str, str]:
    made = await api.post("/api/auth/register", json={"username": "ann",
                                                      "password": "tall-ladder-42"})
    assert made.status_code == 201, made.text
    login = await api.post("/api/auth/login", json={"username": "ann",
                                                    "password": "tall-ladder-42"})
    assert login.status_code == 200, login.text
    granted = await api.post(f"/api/admin/users/{made.json()['user_id']}/credits",
                             json={"amount": amount}, headers=boss)
    assert granted.status_code == 200, granted.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def credits(api: httpx.AsyncClient, user: dict[str, str]) -> int:
    return int((await api.get("/api/users/user/credits", headers=user)).json()["credits"])


async def status_of(api: httpx.AsyncClient, user: dict[str, str], queue_id: str) -> dict:
    found = await api.get(f"/api/messages/message-status/{queue_id}", headers=user)
    return found.json() if found.status_code == 200 else {}


async def send(api: httpx.AsyncClient, user: dict[str, str]) -> str:
    sent = await api.post("/api/messages/send-message", headers=user,
                          json={"number": "27821234567", "message": "Your code is 1234"})
    assert sent.status_code == 200, sent.text
    return str(sent.json()["queue_id"])


async def webhook(api: httpx.AsyncClient, payload: dict[str, Any]) -> httpx.Response:
    raw = json.dumps(payload).encode()
    return await api.post("/webhooks/whatsapp-cloud", content=raw, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(SECRET, raw)})


async def test_a_failed_webhook_after_acceptance_fails_and_refunds_once(
        database_url, fresh_nats_url, tmp_path, meta):
    async with cloud_stack(database_url, fresh_nats_url, tmp_path, meta) as (api, boss):
        ann = await user_with_credits(api, boss, 2)
        await until(lambda: _credits_are(api, ann, 2), "the grant")
        queue_id = await send(api, ann)
        await until(lambda: _status_is(api, ann, queue_id, "Sent"), "Sent after Meta's 200")
        assert await credits(api, ann) == 1
        [accepted] = meta.accepted
        tracker = accepted["biz_opaque_callback_data"]
        for name in ("delivered", "failed_131026", "failed_131026"):  # Meta redelivers
            answer = await webhook(api, recorded(name, accepted["wamid"], tracker))
            assert answer.status_code == 200, answer.text
        await until(lambda: _status_is(api, ann, queue_id, "Failed"), "Failed")
        await until(lambda: _credits_are(api, ann, 2), "the refund")
        found = await status_of(api, ann, queue_id)
        assert found["is_error"] is True and "131026" in found["error_message"]
        await webhook(api, recorded("read", accepted["wamid"], tracker))
        await asyncio.sleep(1.0)  # a late receipt changes nothing, nor is it refunded twice
        assert (await status_of(api, ann, queue_id))["status"] == "Failed"
        assert await credits(api, ann) == 2


async def test_a_rate_limited_send_is_sent_after_meta_s_wait(database_url, fresh_nats_url,
                                                             tmp_path, meta):
    async with cloud_stack(database_url, fresh_nats_url, tmp_path, meta) as (api, boss):
        ann = await user_with_credits(api, boss, 1)
        await until(lambda: _credits_are(api, ann, 1), "the grant")
        meta.fail_next(429, 130429, "(#130429) Rate limit hit", retry_after="3",
                       details="Cloud API message throughput has been reached.")
        started = time.monotonic()
        queue_id = await send(api, ann)
        await until(lambda: _status_is(api, ann, queue_id, "Sent"), "Sent after the wait")
        assert time.monotonic() - started >= 3.0  # Meta's Retry-After, not our 2 s backoff
        posts = [s for s in meta.seen if s.method == "POST"]
        assert len(posts) == 2 and len(meta.accepted) == 1
        assert await credits(api, ann) == 0
        assert not (await status_of(api, ann, queue_id))["is_error"]


async def _credits_are(api: httpx.AsyncClient, user: dict[str, str], amount: int) -> bool:
    return await credits(api, user) == amount


async def _status_is(api: httpx.AsyncClient, user: dict[str, str], queue_id: str,
                     status: str) -> bool:
    return (await status_of(api, user, queue_id)).get("status") == status
