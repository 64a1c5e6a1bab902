"""Sign-in limits through the gateway as it is served (its own uvicorn configuration, real
HTTP on 127.0.0.1) and the four real services on real NATS, on both stores.

The client address comes from X-Forwarded-For only when the peer is a trusted proxy (none
by default), and then it is the address that proxy saw; failed sign-ins count per
(username, address), so a stranger's wrong passwords lock only the stranger out, while a
per-username ceiling still stops an attack spread over many addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from kernel.config import Settings
from tests.auth.gateway_support import BOSS, BOSS_PASSWORD, error_of
from tests.support.services import running_services, served_gateway

WINDOW = 3600


@asynccontextmanager
async def gateways(database_url: str, nats_url: str, var_dir: Path,
                   **overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient,
                                                            httpx.AsyncClient]]:
    """Two gateways on one stack: trusting no proxy (the default), and trusting
    127.0.0.0/8, the address every request of these tests comes from."""
    values = {"admin_user": BOSS, "admin_password": BOSS_PASSWORD,
              "rate_limit_window_seconds": WINDOW, **overrides}
    async with running_services(database_url, nats_url, var_dir, **values) as settings, \
            served_gateway(settings) as plain, \
            served_gateway(proxied(settings)) as behind_proxy:
        yield plain, behind_proxy


def proxied(settings: Settings) -> Settings:
    return settings.model_copy(update={"trusted_proxies": "127.0.0.0/8"})


def sign_in(http: httpx.AsyncClient, forwarded: str, password: str = "wrong password",
            username: str = BOSS) -> Any:
    return http.post("/api/auth/login", json={"username": username, "password": password},
                     headers={"X-Forwarded-For": forwarded})


async def test_forwarded_addresses_count_only_from_a_trusted_proxy(database_url,
                                                                   fresh_nats_url, tmp_path):
    async with gateways(database_url, fresh_nats_url, tmp_path,
                        rate_limit_auth=3) as (plain, behind_proxy):
        # No trusted proxy: a client naming a new address per request is still itself.
        answers = [await sign_in(plain, f"198.51.100.{i}", BOSS_PASSWORD) for i in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert error_of(answers[-1]) == (429, "RATE_LIMITED")
        # Behind a trusted proxy: the address it saw (the right-most untrusted hop) counts,
        # whatever the client wrote to the left of it.
        chains = [f"10.9.9.{i}, 203.0.113.7" for i in range(4)]
        answers = [await sign_in(behind_proxy, chain, BOSS_PASSWORD) for chain in chains]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        other = await sign_in(behind_proxy, "203.0.113.8, 127.0.0.1", BOSS_PASSWORD)
        assert other.status_code == 200  # another client behind the proxy: its own budget


async def test_a_stranger_cannot_lock_the_owner_out(database_url, fresh_nats_url, tmp_path):
    async with gateways(database_url, fresh_nats_url, tmp_path, rate_limit_auth=0,
                        login_max_failures_per_user=12) as (_, behind_proxy):
        stranger = [await sign_in(behind_proxy, "198.51.100.1") for _ in range(7)]
        assert [a.status_code for a in stranger] == [401] * 5 + [429] * 2
        owner = await sign_in(behind_proxy, "203.0.113.5", BOSS_PASSWORD)
        assert owner.status_code == 200 and owner.json()["is_admin"] is True
        # An attack spread over addresses meets the per-username ceiling (here 12).
        spread = [await sign_in(behind_proxy, f"198.51.100.{2 + i // 5}") for i in range(7)]
        assert [a.status_code for a in spread] == [401] * 7
        locked = await sign_in(behind_proxy, "203.0.113.5", BOSS_PASSWORD)
        assert error_of(locked) == (429, "RATE_LIMITED")
        assert int(locked.headers["Retry-After"]) > 0
