"""The whole auth surface through the real gateway and the four real services (in this
process, on the test's database and its own nats-server): helpers for REST tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kernel.config import Settings
from tests.support.services import gateway_client, running_services

BOSS, BOSS_PASSWORD = "boss", "boss-password"
PASSWORD = "tall-ladder-42"


@dataclass
class Api:
    http: httpx.AsyncClient
    settings: Settings

    async def register(self, username: str, password: str = PASSWORD, **extra: Any) -> int:
        created = await self.http.post("/api/auth/register",
                                       json={"username": username, "password": password,
                                             **extra})
        assert created.status_code == 201, created.text
        return int(created.json()["user_id"])

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        answer = await self.http.post("/api/auth/login",
                                      json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def token(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        """Authorization headers of a fresh login."""
        return bearer((await self.login(username, password))["access_token"])

    async def boss(self) -> dict[str, str]:
        return await self.token(BOSS, BOSS_PASSWORD)

    async def user(self, username: str) -> tuple[int, dict[str, str]]:
        return await self.register(username), await self.token(username)

    async def instance(self, headers: dict[str, str], name: str = "Main") -> dict[str, Any]:
        made = await self.http.post("/api/instances", json={"instance_name": name},
                                    headers=headers)
        assert made.status_code == 201, made.text
        return dict(made.json())

    async def v1(self, pair: dict[str, Any], in_headers: bool = False) -> httpx.Response:
        """GET /api/v1/whatsapp/instance with a key pair, past the device's set-up."""
        if in_headers:
            kwargs: dict[str, Any] = {"headers": {"X-Public-Key": pair["public_key"],
                                                  "X-Secret-Key": pair["secret_key"]}}
        else:
            kwargs = {"params": {"publicKey": pair["public_key"],
                                 "secretKey": pair["secret_key"]}}
        for _ in range(100):
            found = await self.http.get("/api/v1/whatsapp/instance", **kwargs)
            if found.status_code != 503:
                return found
            await asyncio.sleep(0.05)
        return found


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(answer: httpx.Response) -> tuple[int, str]:
    """(HTTP status, error code), after checking the Messaging API's error envelope."""
    body = answer.json()
    assert set(body) == {"error", "message", "code"}, body
    assert body["code"] == answer.status_code and body["message"], body
    return answer.status_code, body["error"]


def v1_error_of(answer: httpx.Response) -> tuple[int, str]:
    """(HTTP status, error code), after checking the Instance API's error envelope."""
    body = answer.json()
    assert set(body) == {"success", "message", "error", "data"}, body
    assert body["success"] is False and body["data"] is None and body["message"], body
    return answer.status_code, body["error"]


@asynccontextmanager
async def api_stack(database_url: str, nats_url: str, var_dir: Path,
                    **overrides: Any) -> AsyncIterator[Api]:
    values = {"admin_user": BOSS, "admin_password": BOSS_PASSWORD, **overrides}
    async with running_services(database_url, nats_url, var_dir, **values) as settings, \
            gateway_client(settings) as http:
        yield Api(http, settings)
