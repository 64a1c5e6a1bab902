"""The gateway's own /metrics: HTTP requests by method, route template and status, and
their latencies; raw paths (ids) never become labels. The app is the real one (its
middleware, its lifespan); a probe route of the test's own stands in for the API's
templated routes, so that no service needs to answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.deploy.promtext import sample

PROBE_ROUTE = "/probe/items/{item_id}"
REQUESTS = "switchboard_http_requests_total"


def with_probe_route(app: FastAPI) -> FastAPI:
    async def item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise RuntimeError("boom")
        return {"item_id": item_id}

    app.add_api_route(PROBE_ROUTE, item, methods=["GET"])
    return app


@pytest.fixture
async def api(nats_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = with_probe_route(create_app(GatewaySettings(nats_url=nats_url)))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def page(api: httpx.AsyncClient) -> str:
    reply = await api.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return reply.text


async def test_requests_are_counted_by_route_template_and_status(
        api: httpx.AsyncClient) -> None:
    livez = {"method": "GET", "route": "/livez", "status": "200"}
    probe = {"method": "GET", "route": PROBE_ROUTE, "status": "200"}
    before = await page(api)
    for _ in range(3):
        assert (await api.get("/livez")).status_code == 200
    assert (await api.get("/probe/items/msg_123")).status_code == 200
    assert (await api.get("/probe/items/msg_456")).status_code == 200
    after = await page(api)
    assert sample(after, REQUESTS, **livez) - sample(before, REQUESTS, **livez) == 3
    assert sample(after, REQUESTS, **probe) - sample(before, REQUESTS, **probe) == 2
    assert "msg_123" not in after and "msg_456" not in after
    count = "switchboard_http_request_duration_seconds_count"
    timed = {"method": "GET", "route": "/livez"}
    assert sample(after, count, **timed) - sample(before, count, **timed) == 3


async def test_failures_and_refusals_before_routing_are_counted(
        api: httpx.AsyncClient) -> None:
    crashed = {"method": "GET", "route": PROBE_ROUTE, "status": "500"}
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    too_large = {"method": "POST", "route": "<unmatched>", "status": "413"}
    before = await page(api)
    assert (await api.get("/probe/items/missing")).status_code == 500
    assert (await api.get("/no/such/path")).status_code == 404
    big = await api.post("/api/auth/login", content=b"{}",
                         headers={"content-length": str(10**9)})
    assert big.status_code == 413
    after = await page(api)
    for labels in (crashed, unmatched, too_large):
        assert sample(after, REQUESTS, **labels) - sample(before, REQUESTS, **labels) == 1


async def test_a_stream_is_counted_and_timed_once_when_its_response_starts(
        nats_url: str) -> None:
    """A stream's latency is the wait for its first byte, not its length: it is counted
    while its body still streams (its end waits for the test's go), and not again."""
    app = create_app(GatewaySettings(nats_url=nats_url))
    go = asyncio.Event()

    async def ticks() -> AsyncIterator[str]:
        yield "tick\n"
        await go.wait()
        yield "last\n"

    async def stream() -> StreamingResponse:
        return StreamingResponse(ticks(), media_type="text/plain")

    app.add_api_route("/probe/stream", stream, methods=["GET"])
    labels = {"method": "GET", "route": "/probe/stream"}
    counts: list[float] = []

    def counted() -> float:
        return REGISTRY.get_sample_value("switchboard_http_requests_total",
                                         {**labels, "status": "200"}) or 0.0

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            counts.append(counted())
            go.set()

    async def receive() -> dict[str, object]:
        await asyncio.Event().wait()  # the client never leaves
        return {"type": "http.disconnect"}

    before = counted()
    async with app.router.lifespan_context(app):
        await app({"type": "http", "method": "GET", "path": "/probe/stream",
                   "raw_path": b"/probe/stream", "query_string": b"", "headers": [],
                   "http_version": "1.1", "scheme": "http", "root_path": "",
                   "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
                   "asgi": {"version": "3.0"}}, receive, send)
    assert counts == [before + 1]
    assert counted() == before + 1
