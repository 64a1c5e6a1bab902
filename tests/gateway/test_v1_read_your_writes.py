"""Read-your-writes across services, through the real gateway and the four services on
both stores: an instance answers every Instance API call as soon as its creation has
returned (the device service asks auth about an instance it has not heard of yet, and
billing starts its plan on first use), never 503 "being set up"; many creations in a
row and at once, each followed at once by its calls. An instance auth does not have (a
deleted one, an unknown id) is still not found."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest

from gateway.clients import Clients
from kernel.errors import from_rpc_error
from switchboard.device.v1 import device_pb2
from tests.gateway.test_billing_credits import signed_in
from tests.support.services import gateway_client, running_services

ROUNDS, AT_ONCE = 3, 12


@pytest.fixture
async def api(database_url, fresh_nats_url, tmp_path):
    async with running_services(database_url, fresh_nats_url, tmp_path) as settings, \
            gateway_client(settings) as client:
        client.settings = settings
        yield client


async def create_then_use(api: httpx.AsyncClient, headers: dict[str, str], name: str) -> str:
    created = await api.post("/api/instances", json={"instance_name": name}, headers=headers)
    assert created.status_code == 201, created.text
    pair = created.json()
    keys = {"publicKey": pair["public_key"], "secretKey": pair["secret_key"]}
    info, qr, quota = await asyncio.gather(
        api.get("/api/v1/whatsapp/instance", params=keys),
        api.get("/api/v1/whatsapp/instance/qrcode", params=keys),
        api.get("/api/v1/whatsapp/quota", params=keys))
    for answer in (info, qr, quota):
        assert answer.status_code == 200, (answer.request.url.path, answer.text)
    data = info.json()["data"]
    assert (data["instanceId"], data["instanceName"], data["id"]) == (
        pair["instance_id"], name, pair["id"])
    assert data["status"] in ("Disconnected", "AwaitingScan")
    assert data["createdAt"] is not None and data["subscription"] is not None
    assert qr.json()["data"]["qrCode"].startswith("data:image/png;base64,")
    assert quota.json()["data"]["monthlyQuota"] > 0
    return str(pair["instance_id"])


async def test_a_created_instance_answers_at_once_many_times_over(api):
    headers = await signed_in(api, "ann")
    made: list[str] = []
    for round_ in range(ROUNDS):
        made += await asyncio.gather(*(create_then_use(api, headers, f"i{round_}-{n}")
                                       for n in range(AT_ONCE)))
    assert len(set(made)) == ROUNDS * AT_ONCE


async def test_a_deleted_or_unknown_instance_is_still_not_found(api):
    headers = await signed_in(api, "bob")
    instance_id = await create_then_use(api, headers, "short-lived")
    deleted = await api.delete(f"/api/instances/{instance_id}", headers=headers)
    assert deleted.status_code == 200, deleted.text
    clients = Clients.connect(api.settings)
    try:
        assert await found(clients, "abcdef-012345") is False  # auth was asked: no such one
        for _ in range(200):  # the device retires once InstanceDeleted reaches it
            if not await found(clients, instance_id):
                break
            await asyncio.sleep(0.05)
        assert await found(clients, instance_id) is False  # and asking auth brings no return
    finally:
        await clients.close()


async def found(clients: Clients, device_id: str) -> bool:
    try:
        await clients.device.GetDevice(device_pb2.GetDeviceRequest(device_id=device_id))
    except grpc.aio.AioRpcError as exc:
        assert from_rpc_error(exc).reason == "DEVICE_NOT_FOUND", device_id
        return False
    return True
