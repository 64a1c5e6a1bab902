"""The gateway's own /metrics: HTTP requests by method, route template and status, and
their latencies; raw paths (ids) never become labels. The app is the real one (its
middleware, its lifespan); a probe route of the test's own stands in for the API's
templated routes, so that no service needs to answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from kernel.config import Settings
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
    app = with_probe_route(create_app(Settings(nats_url=nats_url)))
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
