"""Each request's correlation id: the caller's when it is an id, else a fresh one; the
request runs under it (what it logs and the RPCs it makes carry it), the response echoes it
once, and the code that called the app keeps its own trace. The app is the real one, its
middleware and lifespan; a probe route of the test's own reports the trace it ran under."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from kernel import context

FRESH = r"[0-9a-f]{32}"


@pytest.fixture
async def api(nats_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings(nats_url=nats_url))

    async def probe() -> dict[str, str]:
        return {"correlation_id": context.current().correlation_id}

    app.add_api_route("/probe/trace", probe, methods=["GET"])
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def test_a_fit_id_is_kept_run_under_and_echoed_once(api: httpx.AsyncClient) -> None:
    reply = await api.get("/probe/trace", headers={"X-Correlation-Id": "req-42.a_b"})
    assert reply.json() == {"correlation_id": "req-42.a_b"}
    assert reply.headers.get_list("x-correlation-id") == ["req-42.a_b"]


@pytest.mark.parametrize("given", [None, "", "x" * 65, "bad id", "a/b"])
async def test_any_other_id_is_replaced_by_a_fresh_one(api: httpx.AsyncClient,
                                                       given: str | None) -> None:
    headers = {} if given is None else {"X-Correlation-Id": given}
    reply = await api.get("/probe/trace", headers=headers)
    echoed = reply.headers.get_list("x-correlation-id")
    assert len(echoed) == 1
    assert echoed[0] != given
    assert reply.json() == {"correlation_id": echoed[0]}
    assert re.fullmatch(FRESH, echoed[0])


async def test_refusals_carry_the_id_too(api: httpx.AsyncClient) -> None:
    unmatched = await api.get("/no/such/path", headers={"X-Correlation-Id": "c-404"})
    unsigned = await api.post("/api/messages/send-message", json={"number": "1"},
                              headers={"X-Correlation-Id": "c-401"})
    assert (unmatched.status_code, unmatched.headers["x-correlation-id"]) == (404, "c-404")
    assert (unsigned.status_code, unsigned.headers["x-correlation-id"]) == (401, "c-401")


async def test_the_caller_of_the_app_keeps_its_own_trace(api: httpx.AsyncClient) -> None:
    ours = context.begin("the-test's-own").correlation_id
    await api.get("/probe/trace", headers={"X-Correlation-Id": "req-1"})
    assert context.current().correlation_id == ours
