"""Properties of pagination at the edge: `pagination()` (instances, admin lists) and
GET /api/messages/messages through the real gateway and the four services on SQLite.
For any page and per_page: within bounds the answer is the page asked for, per_page
capped at 100, `pages` the ceiling of total / per_page, the items newest first and as
many as the page holds; out of bounds or not a number, 400 INVALID_REQUEST."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.routes.messaging_api.instances import pagination
from tests.gateway.test_billing_credits import signed_in, top_up
from tests.support.services import gateway_client, running_services

ADMIN = {"admin_user": "boss", "admin_password": "boss-password"}
URL = "/api/messages/messages"
SENT = 130
MAX_PAGE = 10**6
Get = Callable[[dict[str, object]], httpx.Response]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(page=st.integers(1, 10**5), per_page=st.integers(1, 100), total=st.integers(0, 10**7))
def test_pages_are_the_fewest_that_hold_the_total(page: int, per_page: int,
                                                  total: int) -> None:
    found = pagination(page, per_page, total)
    assert (found["page"], found["per_page"], found["total"]) == (page, per_page, total)
    assert found["pages"] == math.ceil(total / per_page)
    assert (found["pages"] - 1) * per_page < total <= found["pages"] * per_page or total == 0
    assert (found["pages"] == 0) == (total == 0)


numbers = st.integers(-3, 40) | st.integers(MAX_PAGE - 2, MAX_PAGE + 2)
words = st.sampled_from(["x", "1.5", "one", "2e3", "0x10"])


def _check_pages(get: Get) -> None:
    @settings(max_examples=50, deadline=None, derandomize=True, database=None)
    @given(page=numbers | words, per_page=numbers | words)
    def pages(page: int | str, per_page: int | str) -> None:
        answer = get({"page": page, "per_page": per_page})
        body = answer.json()
        if not all(isinstance(v, int) and 1 <= v <= MAX_PAGE for v in (page, per_page)):
            assert (answer.status_code, body["error"], body["code"]) == (
                400, "INVALID_REQUEST", 400)
            return
        assert isinstance(page, int) and isinstance(per_page, int)
        size = min(per_page, 100)
        assert answer.status_code == 200, answer.text
        assert body["pagination"] == {"page": page, "per_page": size, "total": SENT,
                                      "pages": math.ceil(SENT / size)}
        assert len(body["messages"]) == max(0, min(size, SENT - (page - 1) * size))
        stamps = [m["created_at"] for m in body["messages"]]
        assert stamps == sorted(stamps, reverse=True)

    pages()


async def test_history_pages_hold_to_their_bounds_for_any_parameters(
        fresh_nats_url: str, tmp_path: Path) -> None:
    store = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    async with running_services(store, fresh_nats_url, tmp_path, rate_limit_status=10_000,
                                **ADMIN) as config, gateway_client(config) as api:
        headers = await signed_in(api, "ann")
        await top_up(api, headers, SENT)
        for first in range(0, SENT, 65):  # two sends, a second apart: two creation times
            sent = await api.post("/api/messages/send-bulk-message", headers=headers, json={
                "numbers": [f"2782{n:07d}" for n in range(first, first + 65)],
                "message": "hello"})
            assert sent.status_code == 200, sent.text
            await asyncio.sleep(1.0)
        loop = asyncio.get_running_loop()

        def get(params: dict[str, object]) -> httpx.Response:
            return asyncio.run_coroutine_threadsafe(
                api.get(URL, headers=headers, params=params), loop).result(30)

        await asyncio.to_thread(_check_pages, get)
        everything = (await api.get(URL, headers=headers, params={"per_page": 100})).json()
        newest = everything["messages"][0]["created_at"]
        oldest = (await api.get(URL, headers=headers, params={"page": 2, "per_page": 100})
                  ).json()["messages"][-1]["created_at"]
        assert newest > oldest
