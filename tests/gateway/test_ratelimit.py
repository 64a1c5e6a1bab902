"""Rate limits through TWO real gateway apps sharing one nats-server (two replicas), on
both stores: each limit holds across replicas; 429 RATE_LIMITED with Retry-After. And the
KV counter itself under contention from two connections, and counting in-process (never
failing open) without NATS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import nats
import pytest

from gateway.app import create_app
from gateway.ratelimit import route_class
from kernel.config import Settings
from kernel.ratelimit import WindowCounters, open_bucket
from launcher import natsserver
from tests.auth.gateway_support import Api, api_stack, error_of, v1_error_of
from tests.support.services import gateway_client

WINDOW = 3600  # long windows: a test never straddles two of them (see clear_of_boundary)


async def clear_of_boundary(window: int = WINDOW, margin: float = 10.0) -> None:
    left = window - time.time() % window
    if left < margin:
        await asyncio.sleep(left + 0.1)


@asynccontextmanager
async def two_replicas(database_url: str, nats_url: str, var_dir: Path,
                       **limits: int) -> AsyncIterator[tuple[Api, httpx.AsyncClient]]:
    """The stack with its first gateway, and a second gateway app on the same NATS."""
    await clear_of_boundary()
    async with api_stack(database_url, nats_url, var_dir, rate_limit_window_seconds=WINDOW,
                         **limits) as api, gateway_client(api.settings) as second:
        yield api, second


@asynccontextmanager
async def gateway_from(settings: Settings,
                       client: tuple[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    """Another gateway replica, reached from another client address."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http


def test_route_classes_follow_the_documented_limits():
    assert route_class("POST", "/api/messages/send-message") == "messages"
    assert route_class("POST", "/api/v1/whatsapp/send") == "messages"
    assert route_class("POST", "/api/messages/send-bulk-message") == "bulk"
    assert route_class("GET", "/api/messages/message-status/msg_1") == "status"
    assert route_class("GET", "/api/v1/whatsapp/quota") == "status"
    assert route_class("POST", "/api/instances") == "other"
    assert route_class("DELETE", "/api/instances/abc") == "other"


async def test_a_user_s_status_checks_are_limited_across_replicas(database_url,
                                                                  fresh_nats_url, tmp_path):
    async with two_replicas(database_url, fresh_nats_url, tmp_path, rate_limit_status=5,
                            rate_limit_auth=0) as (api, second):
        _, me = await api.user("checker")
        _, other = await api.user("bystander")
        answers = [await (api.http if i % 2 else second).get("/api/users/user/credits",
                                                            headers=me) for i in range(7)]
        assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
        assert [a.headers["X-RateLimit-Remaining"] for a in answers[:5]] == \
            ["4", "3", "2", "1", "0"]
        limited = answers[5]
        assert error_of(limited) == (429, "RATE_LIMITED")
        assert 1 <= int(limited.headers["Retry-After"]) <= WINDOW
        assert limited.headers["X-RateLimit-Limit"] == "5"
        assert (await second.get("/api/users/user/credits", headers=other)).status_code == 200


async def test_sign_in_is_limited_per_client_address_across_replicas(database_url,
                                                                     fresh_nats_url, tmp_path):
    async with two_replicas(database_url, fresh_nats_url, tmp_path,
                            rate_limit_auth=4) as (api, second):
        await api.register("signer")  # 1
        body = {"username": "signer", "password": "tall-ladder-42"}
        answers = [await second.post("/api/auth/login", json=body),  # 2
                   await api.http.post("/api/auth/login", json=body),  # 3
                   await second.post("/api/auth/register",
                                     json={"username": "late", "password": "tall-ladder-42"}),
                   await api.http.post("/api/auth/login", json=body)]
        assert [a.status_code for a in answers] == [200, 200, 201, 429]
        assert error_of(answers[-1]) == (429, "RATE_LIMITED")
        assert int(answers[-1].headers["Retry-After"]) >= 1
        async with gateway_from(api.settings, ("10.0.0.9", 5555)) as elsewhere:
            assert (await elsewhere.post("/api/auth/login", json=body)).status_code == 200


async def test_single_sends_are_limited_per_user_whatever_their_outcome(database_url,
                                                                        fresh_nats_url,
                                                                        tmp_path):
    async with two_replicas(database_url, fresh_nats_url, tmp_path, rate_limit_messages=2,
                            rate_limit_auth=0) as (api, second):
        _, me = await api.user("sender")
        body = {"number": "27821234567", "message": "hi"}
        answers = [await client.post("/api/messages/send-message", json=body, headers=me)
                   for client in (api.http, second, api.http)]
        assert [a.status_code == 429 for a in answers] == [False, False, True]
        assert error_of(answers[2]) == (429, "RATE_LIMITED")
        status = await second.get("/api/users/user/credits", headers=me)
        assert status.status_code == 200  # another class, another budget


async def test_bulk_sends_have_their_own_smaller_budget(database_url, fresh_nats_url,
                                                        tmp_path):
    async with two_replicas(database_url, fresh_nats_url, tmp_path, rate_limit_bulk=2,
                            rate_limit_messages=5, rate_limit_auth=0) as (api, second):
        _, me = await api.user("bulker")
        body = {"numbers": ["27821234567", "27829876543"], "message": "hi"}
        answers = [await client.post("/api/messages/send-bulk-message", json=body,
                                     headers=me) for client in (second, api.http, second)]
        assert [a.status_code == 429 for a in answers] == [False, False, True]
        assert error_of(answers[2]) == (429, "RATE_LIMITED")
        assert answers[2].headers["X-RateLimit-Limit"] == "2"
        single = await api.http.post("/api/messages/send-message", headers=me,
                                     json={"number": "27821234567", "message": "hi"})
        assert single.status_code != 429


async def test_instance_api_calls_are_limited_per_instance(database_url, fresh_nats_url,
                                                           tmp_path):
    limit = 20
    async with two_replicas(database_url, fresh_nats_url, tmp_path, rate_limit_status=limit,
                            rate_limit_auth=0) as (api, second):
        _, me = await api.user("instanced")
        pair = await api.instance(me)
        params = {"publicKey": pair["public_key"], "secretKey": pair["secret_key"]}
        used, answer = 0, None
        while answer is None or answer.status_code == 503:  # the device service sets it up
            answer = await api.http.get("/api/v1/whatsapp/instance", params=params)
            used += 1
            await asyncio.sleep(0.02)
        assert answer.status_code == 200 and used < limit, answer.text
        rest = [await c.get("/api/v1/whatsapp/instance", params=params)
                for c in [second, api.http] * ((limit - used) // 2 + 1)][:limit - used + 1]
        assert [a.status_code for a in rest] == [200] * (limit - used) + [429]
        assert v1_error_of(rest[-1]) == (429, "RATE_LIMITED")
        assert "Retry-After" in rest[-1].headers
        _, other = await api.user("neighbour")
        theirs = await api.instance(other)
        assert (await api.v1(theirs)).status_code == 200


async def test_zero_means_unlimited(database_url, fresh_nats_url, tmp_path):
    async with api_stack(database_url, fresh_nats_url, tmp_path, rate_limit_status=0,
                         rate_limit_auth=0) as api:
        _, me = await api.user("unbounded")
        answers = await asyncio.gather(*(api.http.get("/api/users/user/credits", headers=me)
                                         for _ in range(30)))
        assert {a.status_code for a in answers} == {200}
        assert "X-RateLimit-Limit" not in answers[0].headers


@pytest.fixture
async def bucket(nats_url: str, unique: str):
    settings = Settings(rate_limit_bucket=f"sb_rl_{unique}")
    connections = [await nats.connect(nats_url) for _ in range(2)]
    kvs = [await open_bucket(nc.jetstream(), settings) for nc in connections]
    yield kvs
    for nc in connections:
        await nc.close()


async def test_counters_never_over_admit_under_contention_from_two_replicas(bucket):
    first, second = WindowCounters(bucket[0]), WindowCounters(bucket[1])
    window = int(time.time() // 60)
    takes = [(first if i % 2 else second).take(f"messages.{window}.u1", 100, window)
             for i in range(300)]
    results = await asyncio.gather(*takes)
    assert sum(allowed for allowed, _ in results) == 100
    other = await first.take(f"messages.{window}.u2", 100, window)
    assert other[0] is True
    again = await second.take(f"messages.{window}.u1", 100, window)
    assert again == (False, 100)


async def test_the_limiter_counts_in_process_when_nats_is_gone(tmp_path):
    port = natsserver.free_port()
    server = natsserver.start(port, tmp_path / "nats")
    nc = await nats.connect(f"nats://127.0.0.1:{port}", max_reconnect_attempts=-1,
                            reconnect_time_wait=0.2)
    try:
        kv = await open_bucket(nc.jetstream(), Settings())
        counters = WindowCounters(kv, timeout=0.3)
        assert (await counters.take("status.1.u1", 1, 1))[0] is True
        assert (await counters.take("status.1.u1", 1, 1))[0] is False  # known full
        server.terminate()
        server.wait(10)
        started = time.monotonic()
        assert (await counters.take("status.1.u2", 2, 1))[0] is True
        assert time.monotonic() - started < 2
        assert (await counters.take("status.1.u2", 2, 1))[0] is True
        assert (await counters.take("status.1.u2", 2, 1))[0] is False  # still limited
        assert (await counters.take("status.1.u1", 1, 1))[0] is False
    finally:
        if server.poll() is None:
            server.terminate()
        await nc.close()
