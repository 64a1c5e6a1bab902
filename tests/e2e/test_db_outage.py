"""The database goes away for a while: requests on both APIs fail fast with a 503 in their
documented envelope, nothing is half-applied, and the system recovers by itself.

The four services and the gateway run in this process on a PostgreSQL server of the
test's own, which is killed (every session gone at once, connections refused) and started
again on the same port and data directory; nothing else is restarted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.clients import Clients
from kernel.config import Settings
from kernel.errors import from_rpc_error
from switchboard.billing.v1 import billing_pb2
from switchboard.device.v1 import device_pb2
from switchboard.messaging.v1 import messaging_pb2
from tests.device.test_simulator import decode_qr_data_url
from tests.gateway.test_v1_instance import instance_info, user_with_instance
from tests.support.postgres import LocalServer, restartable_server
from tests.support.services import gateway_client, running_services

pytestmark = pytest.mark.postgres

SETTINGS = {"admin_user": "boss", "admin_password": "boss-password",
            "billing_free_plan_type": 1, "billing_free_plan_quota": 50,
            "billing_free_plan_period": 1, "billing_free_plan_auto_renew": True,
            # read receipts of the last messages sent before the outage fall due during it
            "sim_read_delay_ms": 1000}
GRANTED = 20
RECIPIENT = "27821234567"
FAST = 5.0  # seconds: an answer during the outage comes within this, never a hang
Call = Callable[[], Coroutine[Any, Any, httpx.Response]]


@dataclass
class World:
    pg: LocalServer
    api: httpx.AsyncClient
    settings: Settings
    user_id: int
    token: str
    owner: dict


@pytest.fixture
async def world(fresh_nats_url: str, tmp_path: Path) -> AsyncIterator[World]:
    with restartable_server() as pg:
        async with running_services(pg.url, fresh_nats_url, tmp_path, **SETTINGS) as settings, \
                gateway_client(settings) as api:
            user_id, token = await user_with_credits(api, "ann", GRANTED)
            owner = await linked_instance(api, settings, "bob")
            yield World(pg, api, settings, user_id, token, owner)


async def user_with_credits(api: httpx.AsyncClient, username: str,
                            credits: int) -> tuple[int, str]:
    created = await api.post("/api/auth/register",
                             json={"username": username, "password": "tall-ladder-42"})
    assert created.status_code == 201, created.text
    user_id = int(created.json()["user_id"])
    boss = await login(api, "boss", "boss-password")
    granted = await api.post(f"/api/admin/users/{user_id}/credits", json={"amount": credits},
                             headers={"Authorization": f"Bearer {boss.json()['access_token']}"})
    assert granted.status_code == 200, granted.text
    return user_id, (await login(api, username, "tall-ladder-42")).json()["access_token"]


async def linked_instance(api: httpx.AsyncClient, settings: Settings, username: str) -> dict:
    owner = await user_with_instance(api, settings, username)
    keys = cast(dict[str, str], owner["keys"])
    assert (await instance_info(api, keys)).status_code == 200
    qr = await api.get("/api/v1/whatsapp/instance/qrcode", params=keys)
    scanned = await api.post("/simulator/scan", json={
        "qr": decode_qr_data_url(qr.json()["data"]["qrCode"]), "phone_number": "15550001234"})
    assert scanned.json()["status"] == "Connected", scanned.text
    return owner


async def login(api: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await api.post("/api/auth/login", json={"username": username, "password": password})


def calls(w: World) -> dict[str, Call]:
    """One call of each kind, on both APIs: a send, a status lookup, a login, an instance
    call and an instance send."""
    user = {"Authorization": f"Bearer {w.token}"}
    keys = w.owner["keys"]
    return {
        "send": lambda: w.api.post("/api/messages/send-message", headers=user,
                                   json={"number": RECIPIENT, "message": "during"}),
        "status": lambda: w.api.get(f"/api/messages/message-status/{w.owner['probe']}",
                                    headers=user),
        "login": lambda: login(w.api, "ann", "tall-ladder-42"),
        "instance": lambda: w.api.get("/api/v1/whatsapp/instance", params=keys),
        "instance send": lambda: w.api.post("/api/v1/whatsapp/send", params=keys,
                                            json={"phoneNumber": RECIPIENT,
                                                  "message": "during"}),
    }


async def timed(call: Call) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await asyncio.wait_for(call(), timeout=FAST * 3)
    return response, time.monotonic() - started


async def sends_caught_between_charging_and_queueing(
        w: World, kinds: list[str]) -> tuple[list[asyncio.Task[httpx.Response]], AsyncConnection]:
    """Sends in flight, stuck behind the store: this holds the lock that every append to
    messaging's events takes. The first send has reserved its credit or quota unit and
    waits at the append; the others wait behind it in the messaging process (concurrent
    saves share one transaction at a time), some charged, some not yet."""
    holder = create_async_engine(w.pg.url, poolclass=NullPool)
    conn = await holder.connect()
    await conn.execute(text("LOCK TABLE messaging.events IN EXCLUSIVE MODE"))
    sends = [asyncio.create_task(calls(w)[kind]()) for kind in kinds]
    waiting = 0
    for _ in range(200):
        waiting = (await conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE NOT granted"
            " AND relation = 'messaging.events'::regclass"))).scalar_one()
        if waiting:
            await asyncio.sleep(0.5)  # the others catch up and queue behind it
            assert not any(s.done() for s in sends), "a send got through a locked store"
            return sends, conn
        await asyncio.sleep(0.05)
    raise AssertionError("no send reached the append")


async def all_served(w: World, accepted: dict[int, list[str]]) -> None:
    """Every call of `calls` succeeds (once the store answers): sends are noted."""
    for name, call in calls(w).items():
        response = await until_served(call)
        assert response.status_code == 200, (name, response.text)
        if name == "send":
            accepted[w.user_id].append(queue_id(response))
        if name == "instance send":
            accepted[w.owner["user_id"]].append(queue_id(response))


async def until_served(call: Call) -> httpx.Response:
    """The call's answer once it is no longer 503 (or 15 s are up)."""
    deadline = time.monotonic() + 15
    response = await call()
    while response.status_code == 503 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        response = await call()
    return response


async def send(w: World, text_: str) -> str:
    sent = await w.api.post("/api/messages/send-message", json={
        "number": RECIPIENT, "message": text_}, headers={"Authorization": f"Bearer {w.token}"})
    assert sent.status_code == 200, sent.text
    return str(sent.json()["queue_id"])


async def send_from_instance(w: World, text_: str) -> str:
    sent = await w.api.post("/api/v1/whatsapp/send", params=w.owner["keys"],
                            json={"phoneNumber": RECIPIENT, "message": text_})
    assert sent.status_code == 200, sent.text
    return str(sent.json()["data"]["messageId"])


async def statuses(w: World, ids: list[str], token: str, wanted: set[str]) -> dict[str, str]:
    """Each message's status, once every one of them is in `wanted` (or 20 s are up)."""
    found: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for queue_id in ids:
            reply = await w.api.get(f"/api/messages/message-status/{queue_id}",
                                    headers={"Authorization": f"Bearer {token}"})
            found[queue_id] = reply.json().get("status", reply.text)
        if all(s in wanted for s in found.values()):
            break
        await asyncio.sleep(0.1)
    return found


async def each_service_refuses(w: World) -> None:
    """Behind the gateway too, each service answers UNAVAILABLE with the reason the
    gateway maps onto 503 (the calls above stop at auth, which checks every token)."""
    clients = Clients.connect(w.settings)
    try:
        for call in (
            clients.messaging.SendMessage(messaging_pb2.SendMessageRequest(
                user_id=w.user_id, number=RECIPIENT, message="direct")),
            clients.messaging.GetMessageStatus(messaging_pb2.GetMessageStatusRequest(
                user_id=w.user_id, queue_id=w.owner["probe"])),
            clients.billing.GetBalance(billing_pb2.GetBalanceRequest(user_id=w.user_id)),
            clients.device.GetDevice(device_pb2.GetDeviceRequest(
                device_id=w.owner["instance_id"])),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await asyncio.wait_for(call, timeout=FAST)
            error = from_rpc_error(refused.value)
            assert (error.status, error.reason) == (grpc.StatusCode.UNAVAILABLE,
                                                    "SERVICE_UNAVAILABLE"), error.message
    finally:
        await clients.close()


async def books(pg: LocalServer, user_id: int) -> tuple[dict[str, str], dict[str, str]]:
    """Straight from the stores: the user's queued messages (id -> status, written with
    the MessageQueued event) and what billing holds for them (message id -> hold state)."""
    engine = create_async_engine(pg.url)
    try:
        async with engine.connect() as conn:
            queued = (await conn.execute(text(
                "SELECT queue_id, status FROM messaging.message_history WHERE user_id = :u"),
                {"u": user_id})).all()
            holds = (await conn.execute(text(
                "SELECT h.message_id, h.state FROM billing.billing_holds h"
                " JOIN messaging.message_history m ON m.queue_id = h.message_id"
                " WHERE m.user_id = :u UNION ALL"
                " SELECT message_id, state FROM billing.billing_holds"
                " WHERE kind = 'credit' AND owner = :ledger"),
                {"u": user_id, "ledger": f"ledger-{user_id}"})).all()
    finally:
        await engine.dispose()
    return {r.queue_id: r.status.lower() for r in queued}, {r.message_id: r.state
                                                             for r in holds}


async def settled(pg: LocalServer, user_id: int) -> tuple[dict[str, str], set[str]]:
    """The user's queued messages and the ids charged for, once every queued message is
    read or failed and the charges match them (or 20 s are up: they are returned as is)."""
    deadline = time.monotonic() + 20
    while True:
        queued, holds = await books(pg, user_id)
        charged = {m for m, state in holds.items() if state in ("open", "committed")}
        done = all(status in ("read", "failed") for status in queued.values())
        if (done and charged == {m for m, s in queued.items() if s != "failed"}
                or time.monotonic() > deadline):
            return queued, charged
        await asyncio.sleep(0.2)


def queue_id(sent: httpx.Response) -> str:
    body = sent.json()
    return str(body["data"]["messageId"] if "data" in body else body["queue_id"])


async def test_a_database_outage_fails_fast_and_recovers_by_itself(world: World) -> None:
    w = world
    w.owner["probe"] = await send(w, "before 0")
    accepted = {w.user_id: [w.owner["probe"], await send(w, "before 1")],
                w.owner["user_id"]: [await send_from_instance(w, "before")]}
    await all_served(w, accepted)

    # The server dies (as in a crash or a power cut: every session gone at once, nothing
    # more committed) with messages on their way through dispatch and the views, and with
    # sends on both APIs caught between charging and queueing: those are refused, and
    # their charges must be given back once the server is back.
    kinds = ["send", "instance send"] * 3
    caught, holder = await sends_caught_between_charging_and_queueing(w, kinds)
    await asyncio.to_thread(w.pg.stop, "immediate")
    with contextlib.suppress(Exception):
        await holder.close()  # its server is gone
    refused = {w.user_id: 0, w.owner["user_id"]: 0}
    for kind, outcome in zip(kinds, await asyncio.gather(*caught), strict=True):
        assert outcome.status_code in (200, 503), outcome.text
        user = w.user_id if kind == "send" else w.owner["user_id"]
        if outcome.status_code == 200:
            accepted[user].append(queue_id(outcome))
        else:
            refused[user] += 1
    assert sum(refused.values()) == len(kinds), refused

    for name, call in calls(w).items():
        response, took = await timed(call)
        assert took < FAST, f"{name} took {took:.1f}s"
        assert response.status_code == 503, (name, response.text)
        assert response.headers["Retry-After"] == "1"
        body = response.json()
        if name.startswith("instance"):
            assert body == {"success": False, "message": body["message"],
                            "error": "SERVICE_UNAVAILABLE", "data": None}, name
        else:
            assert body == {"error": "SERVICE_UNAVAILABLE", "message": body["message"],
                            "code": 503}, name
    await each_service_refuses(w)
    # health reports the processes: probes must not restart pods over the database
    assert (await w.api.get("/health")).status_code == 200
    await asyncio.sleep(1)  # the background loops meet the outage too

    await asyncio.to_thread(w.pg.start)
    await all_served(w, accepted)  # nothing restarted: the same calls succeed again
    accepted[w.user_id].append(await send(w, "after"))
    accepted[w.owner["user_id"]].append(await send_from_instance(w, "after"))

    ann = await statuses(w, accepted[w.user_id], w.token, {"Read"})
    assert set(ann.values()) == {"Read"}, ann  # all of them, the raced ones too
    bob = await statuses(w, accepted[w.owner["user_id"]], w.owner["token"], {"Read"})
    assert set(bob.values()) == {"Read"}, bob

    for user, accepted_ids in accepted.items():
        queued, charged = await settled(w.pg, user)
        assert set(queued) >= set(accepted_ids), "every send answered 200 was queued"
        # a refused send may have committed as the server went down, its answer lost
        assert len(set(queued) - set(accepted_ids)) <= refused[user], queued
        assert charged == {m for m, status in queued.items() if status != "failed"}, (
            "charged exactly the queued", queued, charged)
        assert all(status in ("read", "failed") for status in queued.values()), queued
    credits = (await w.api.get("/api/users/user/credits",
                               headers={"Authorization": f"Bearer {w.token}"})).json()
    queued, charged = await settled(w.pg, w.user_id)
    assert credits["credits"] == GRANTED - len(charged)
    quota = (await w.api.get("/api/v1/whatsapp/quota", params=w.owner["keys"])).json()
    queued, charged = await settled(w.pg, w.owner["user_id"])
    assert quota["data"]["messagesUsed"] == len(charged)
