"""GET /api/messages/stream through a real gateway (uvicorn on a free port) and all four
services, on both stores: a sent message's statuses arrive as Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

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
