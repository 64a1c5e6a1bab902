"""A reply through each real transport, end to end: the four services, the gateway, and
the transport's stand-in as WhatsApp's side. A text someone sends the linked instance
reaches its owner's Messaging API inbox and the instance's Instance API inbox exactly
once, though the far side delivers it twice (whatsmeow handing the same message over
again; Meta redelivering its signed webhook)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel.config import SERVICES
from kernel.host import ServiceHost
from launcher.natsserver import free_port
from launcher.settings import StackSettings
from services.device.app.transport import Transport
from services.device.bootstrap import build
from tests.device.transports.cloud_standin import FakeCloudApi
from tests.device.transports.cloud_support import NUMBER_ID, TOKEN
from tests.device.transports.test_cloud_failures import (
    ADMIN,
    SECRET,
    _instance_of,
    _linked,
    hosts,
    until,
    webhook,
)
from tests.support.services import _store_url, gateway_client

ANN = "447700900456"
T0 = 1_717_400_000


async def inboxes(api: httpx.AsyncClient, boss: dict[str, str], keys: dict[str, str]
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The owner's Messaging API inbox and the instance's Instance API inbox."""
    mine = await api.get("/api/messages/inbox", headers=boss)
    incoming = await api.get("/api/v1/whatsapp/messages/incoming", params=keys)
    assert mine.status_code == 200, mine.text
    assert incoming.status_code == 200, incoming.text
    return mine.json()["messages"], incoming.json()["data"]["messages"]


async def received_once(api: httpx.AsyncClient, boss: dict[str, str],
                        keys: dict[str, str], text: str) -> None:
    async def arrived() -> bool:
        mine, incoming = await inboxes(api, boss, keys)
        return bool(mine) and bool(incoming)

    await until(arrived, "the reply in both inboxes")
    await asyncio.sleep(1.0)  # time for a second copy, were there one
    mine, incoming = await inboxes(api, boss, keys)
    assert [(m["from"], m["type"], m["message"]) for m in mine] == [(ANN, "text", text)]
    assert [(m["from"], m["type"], m["message"]) for m in incoming] == [(ANN, "text", text)]


async def test_a_cloud_reply_reaches_both_inboxes_once(database_url, fresh_nats_url,
                                                       tmp_path, meta):
    cloud = {"transport": "cloud", "cloud_base_url": meta.url, "cloud_access_token": TOKEN,
             "cloud_app_secret": SECRET, "cloud_retry_base_ms": 10}
    async with stack(database_url, fresh_nats_url, tmp_path, cloud) as (api, boss, keys, _):
        await _linked(api, keys)
        text = FakeCloudApi.user_message("text", {"body": "Yes, Tuesday works"}, ANN, T0)
        for _ in range(2):  # Meta redelivers the same notification
            answer = await webhook(api, FakeCloudApi.inbound(NUMBER_ID, [text]))
            assert answer.status_code == 200, answer.text
        await received_once(api, boss, keys, "Yes, Tuesday works")


async def test_a_whatsmeow_reply_reaches_both_inboxes_once(database_url, fresh_nats_url,
                                                           tmp_path):
    pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed")
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

    from tests.device.transports.neonize_messages import arrived, jid
    from tests.device.transports.whatsmeow_support import standin_transport

    far, transport = standin_transport(tmp_path)
    async with stack(database_url, fresh_nats_url, tmp_path, {"transport": "whatsmeow"},
                     transport) as (api, boss, keys, device_id):
        await _scanned(api, keys, far)
        event = arrived(Message(conversation="Yes, Tuesday works"),
                        jid("205478395461779", "lid"), sender_alt=jid(ANN), at=T0)
        client = far.client_for(device_id)
        for _ in range(2):  # whatsmeow hands the same message over again
            await far.message_from(client, event)
        await received_once(api, boss, keys, "Yes, Tuesday works")


@asynccontextmanager
async def stack(database_url: str, nats_url: str, tmp_path: Path, extra: dict[str, Any],
                transport: Transport | None = None
                ) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], dict[str, str],
                                         str]]:
    """Auth, billing, messaging and the gateway; an admin's instance (a cloud one mapped
    to the stand-in's number); then the device service with `extra`'s transport (or the
    one handed in). Yields the gateway, the admin's headers, the instance's key pair and
    its id."""
    base: dict[str, Any] = {
        "nats_url": nats_url, "var_dir": tmp_path, **ADMIN, **extra,
        **{f"{n}_addr": f"127.0.0.1:{free_port()}" for n in SERVICES}}
    async with hosts(["auth", "billing", "messaging"], database_url, base), \
            gateway_client(StackSettings(**base)) as api:
        login = (await api.post("/api/auth/login", json={
            "username": "boss", "password": "boss-password"})).json()
        made = await _instance_of(StackSettings(**base), login["user_id"])
        instance_id = made.instance.instance_id
        if extra["transport"] == "cloud":
            base["cloud_phone_number_ids"] = {instance_id: NUMBER_ID}
        device = ServiceHost("device", StackSettings(
            database_url=_store_url(database_url, "device"), **base),
            functools.partial(build, transport=transport))
        await device.start(bind=device.settings.service_addr("device"))
        try:
            yield (api, {"Authorization": f"Bearer {login['access_token']}"},
                   {"publicKey": made.instance.public_key, "secretKey": made.secret_key},
                   instance_id)
        finally:
            await device.stop(grace=1.0)


async def _scanned(api: httpx.AsyncClient, keys: dict[str, str], far: Any) -> None:
    """Ask for the instance's QR as its owner would, and scan it with a phone."""
    async def shown() -> bool:
        qr = await api.get("/api/v1/whatsapp/instance/qrcode", params=keys)
        return qr.status_code == 200 and bool(far.clients)

    await until(shown, "a QR from whatsmeow")
    await far.scan(far.clients[-1].qr_codes[-1], "+44 7700 900123")

    async def connected() -> bool:
        info = await api.get("/api/v1/whatsapp/instance", params=keys)
        return info.status_code == 200 and bool(info.json()["data"]["isConnected"])

    await until(connected, "the instance linked")
