"""GET /api/messages/stream through a real gateway (uvicorn on a free port) and all four
services, on both stores: a sent message's statuses arrive as Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from prometheus_client import REGISTRY

from kernel.config import Settings
from tests.gateway.test_webhooks_api import FAST, ORDER, _user
from tests.support.services import running_services, served_gateway


@contextlib.asynccontextmanager
async def real_gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with served_gateway(settings) as client:
        yield client


async def _frames(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, str]]:
    """SSE frames as {field: value}; a comment frame is {"comment": text}."""
    frame: dict[str, str] = {}
    async for line in lines:
        if not line:
            if frame:
                yield frame
            frame = {}
        elif line.startswith(":"):
            frame["comment"] = line[1:].strip()
        else:
            key, _, value = line.partition(":")
            frame[key] = value.removeprefix(" ")


async def test_status_changes_stream_as_server_sent_events(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                status_stream_heartbeat_seconds=0.3, **FAST) as settings, \
            real_gateway(settings) as api:
        ann = await _user(api, "ann", credits=1)
        assert (await api.get("/api/messages/stream")).status_code == 401
        events: list[dict[str, object]] = []
        ids: list[str] = []
        comments: set[str] = set()
        async with api.stream("GET", "/api/messages/stream", headers=ann) as live:
            assert live.status_code == 200
            assert live.headers["content-type"].startswith("text/event-stream")
            frames = _frames(live.aiter_lines())
            assert (await anext(frames)) == {"comment": "connected"}
            sent = await api.post("/api/messages/send-message", headers=ann,
                                  json={"number": "+27821234567", "message": "hi"})
            queue_id = sent.json()["queue_id"]
            async with asyncio.timeout(20):
                async for frame in frames:
                    if "comment" in frame:
                        comments.add(frame["comment"])
                    else:
                        assert frame["event"] == "message.status"
                        ids.append(frame["id"])
                        events.append(json.loads(frame["data"]))
                    if "heartbeat" in comments and any(e["status"] == "Read" for e in events):
                        break
    assert sorted(e["status"] for e in events) == sorted(ORDER)  # type: ignore[type-var]
    assert {e["queue_id"] for e in events} == {queue_id}
    assert all(e["number"] == "27821234567" and e["event"] == "message.status"
               and e["error_message"] is None for e in events)
    assert len(set(ids)) == len(ORDER)


# --- bounds (issue 12): slots per user, token lifetime, the user's standing, shared work

BOUNDED = {**FAST, "status_stream_heartbeat_seconds": 0.3, "user_standing_cache_seconds": 0.2}


async def _ends(live: httpx.Response, within: float) -> dict[str, str]:
    """The stream's `event: end` frame, which must come within `within` seconds."""
    async with asyncio.timeout(within):
        async for frame in _frames(live.aiter_lines()):
            if frame.get("event") == "end":
                return frame
    raise AssertionError("the stream closed without an end frame")


async def test_a_sixth_stream_of_one_user_is_refused(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                **BOUNDED) as settings, real_gateway(settings) as api, \
            contextlib.AsyncExitStack() as held:
        ann = await _user(api, "ann", credits=0)
        bob = await _user(api, "bob", credits=0)
        streams = [await held.enter_async_context(
            api.stream("GET", "/api/messages/stream", headers=ann)) for _ in range(5)]
        assert all(s.status_code == 200 for s in streams)
        sixth = await api.get("/api/messages/stream", headers=ann)
        assert sixth.status_code == 429
        assert sixth.json() == {"error": "RATE_LIMITED", "code": 429, "message":
                                "At most 5 open status streams per user; close one first"}
        async with api.stream("GET", "/api/messages/stream", headers=bob) as other:
            assert other.status_code == 200  # another user's slots are their own
        await streams[0].aclose()
        for _ in range(50):  # the server notices the closed connection, then frees the slot
            async with api.stream("GET", "/api/messages/stream", headers=ann) as again:
                if again.status_code == 200:
                    break
            await asyncio.sleep(0.1)
        assert again.status_code == 200


async def test_a_stream_ends_when_its_token_expires(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    async with running_services(database_url, fresh_nats_url, tmp_path, jwt_ttl_seconds=3,
                                **BOUNDED) as settings, real_gateway(settings) as api:
        ann = await _user(api, "ann", credits=0)
        started = asyncio.get_running_loop().time()
        async with api.stream("GET", "/api/messages/stream", headers=ann) as live:
            assert live.status_code == 200
            end = await _ends(live, within=6)
        assert json.loads(end["data"]) == {"reason": "token_expired"}
        assert asyncio.get_running_loop().time() - started < 4.5


async def test_a_stream_ends_when_its_user_is_disabled(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                **BOUNDED) as settings, real_gateway(settings) as api:
        ann = await _user(api, "ann", credits=0)
        ann_id = (await api.get("/api/users/user/profile", headers=ann)).json()["id"]
        boss = (await api.post("/api/auth/login", json={
            "username": "boss", "password": "boss-password"})).json()
        async with api.stream("GET", "/api/messages/stream", headers=ann) as live:
            assert live.status_code == 200
            disabled = await api.patch(f"/api/admin/users/{ann_id}", json={"disabled": True},
                                       headers={"Authorization": f"Bearer {boss['access_token']}"})
            assert disabled.status_code == 200, disabled.text
            end = await _ends(live, within=5)
        assert json.loads(end["data"]) == {"reason": "unauthorized"}
        assert (await api.get("/api/messages/stream", headers=ann)).status_code == 401


def _decoded() -> float:
    return REGISTRY.get_sample_value("switchboard_status_stream_events_decoded_total") or 0.0


async def _statuses(live: httpx.Response, seen: list[dict[str, object]]) -> None:
    async for frame in _frames(live.aiter_lines()):
        if frame.get("event") == "message.status":
            seen.append(json.loads(frame["data"]))


async def _send_and_read(api: httpx.AsyncClient, headers: dict[str, str], count: int) -> None:
    ids = [(await api.post("/api/messages/send-message", headers=headers, json={
        "number": "+27821234567", "message": f"hi {n}"})).json()["queue_id"]
        for n in range(count)]
    for queue_id in ids:
        for _ in range(400):
            found = await api.get(f"/api/messages/message-status/{queue_id}", headers=headers)
            if found.json()["status"] == "Read":
                break
            await asyncio.sleep(0.05)
        assert found.json()["status"] == "Read", found.text
    await asyncio.sleep(0.5)  # the last receipts reach the watchers too


async def test_many_streams_of_one_user_share_one_decode_per_event(
        database_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    """300 streams once made messaging decode every event 300 times (7.6x the CPU): now
    each event is decoded once per process, whoever and however many watch."""
    async with running_services(database_url, fresh_nats_url, tmp_path,
                                **BOUNDED) as settings, real_gateway(settings) as api, \
            contextlib.AsyncExitStack() as held:
        ann = await _user(api, "ann", credits=2)
        bob = await _user(api, "bob", credits=8)
        seen: list[list[dict[str, object]]] = []
        readers: list[asyncio.Task[None]] = []

        async def watch() -> None:
            live = await held.enter_async_context(
                api.stream("GET", "/api/messages/stream", headers=ann))
            assert live.status_code == 200
            seen.append([])
            readers.append(asyncio.create_task(_statuses(live, seen[-1])))

        try:
            await watch()
            before = _decoded()
            await _send_and_read(api, bob, 4)
            with_one = _decoded() - before
            for _ in range(4):
                await watch()
            before = _decoded()
            await _send_and_read(api, bob, 4)
            with_five = _decoded() - before
            assert with_one >= 4 * 4 and with_five <= with_one + 2, (with_one, with_five)
            assert all(not got for got in seen)  # bob's statuses reach none of ann's
            await _send_and_read(api, ann, 1)
            assert all({e["status"] for e in got} >= {"Sent", "Delivered", "Read"}
                       for got in seen)
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
