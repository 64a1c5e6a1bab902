"""Getting the stack ready for load: a user with credits (Messaging API, JWT) and a
linked instance with a large quota (Instance API, key pair)."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from gateway.clients import Clients
from kernel.config import Settings
from switchboard.auth.v1 import auth_pb2
from tests.device.test_simulator import decode_qr_data_url
from tests.support.stack import Stack

ADMIN = ("benchadmin", "bench-admin-password-1")
INSTANCE_QUOTA = 100_000_000  # the free plan's messages a month: never the limit here
STACK_SETTINGS = {
    "admin_user": ADMIN[0], "admin_password": ADMIN[1],
    "sim_delivery_delay_ms": "0", "sim_read_delay_ms": "0",
    # 0 = unlimited: the benchmark measures the pipeline, not the limiter's refusals.
    "rate_limit_auth": "0", "rate_limit_messages": "0", "rate_limit_bulk": "0",
    "rate_limit_status": "0", "rate_limit_other": "0",
    "billing_free_plan_quota": str(INSTANCE_QUOTA),
}


def wait_http(url: str, timeout: float) -> float:
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise TimeoutError(url)


def register(api: httpx.Client, name: str) -> tuple[int, str]:
    """A new user's id and JWT."""
    reg = api.post("/api/auth/register", json={"username": name, "password": "bench-password-1",
                                               "email": f"{name}@example.com"})
    reg.raise_for_status()
    token = api.post("/api/auth/login", json={"username": name, "password": "bench-password-1"})
    token.raise_for_status()
    return int(reg.json()["user_id"]), str(token.json()["access_token"])


def setup_user(url: str, label: str = "") -> tuple[dict[str, str], int]:
    """Messaging API: a user topped up with 10,000,000 credits by the admin, and its JWT.
    Each `label` makes a user of its own, whose history holds only its own sends."""
    api = httpx.Client(base_url=url, timeout=30)
    user_id, token = register(api, f"bench{label}{int(time.time())}")
    admin = api.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    admin.raise_for_status()
    top = api.post(f"/api/admin/users/{user_id}/credits", json={"amount": 10_000_000},
                   headers={"Authorization": f"Bearer {admin.json()['access_token']}"})
    top.raise_for_status()
    return {"Authorization": f"Bearer {token}"}, user_id


def stack_settings(stack: Stack) -> Settings:
    prefix = "SWITCHBOARD_"
    return Settings.model_validate({k[len(prefix):].lower(): v for k, v in stack.env.items()
                                    if k.startswith(prefix)})


async def create_instance(stack: Stack, user_id: int) -> dict[str, str]:
    """An instance of the user's, created through auth; its key pair."""
    clients = Clients.connect(stack_settings(stack))
    try:
        pair = await clients.auth.CreateInstance(auth_pb2.CreateInstanceRequest(
            user_id=user_id, instance_name="Bench"))
    finally:
        await clients.close()
    return {"publicKey": pair.instance.public_key, "secretKey": pair.secret_key}


def setup_instance(stack: Stack) -> str:
    """Instance API: an instance created through auth (as tests/gateway/test_v1_send.py
    does), linked by scanning its QR code with a simulated phone, on the free plan with
    INSTANCE_QUOTA messages. Returns the send path with its key pair as query parameters."""
    api = httpx.Client(base_url=stack.url, timeout=30)
    user_id, _ = register(api, f"benchinst{int(time.time())}")
    keys = asyncio.run(create_instance(stack, user_id))
    info = _instance_info(api, keys)
    qr = api.get("/api/v1/whatsapp/instance/qrcode", params=keys)
    qr.raise_for_status()
    scanned = api.post("/simulator/scan", json={"qr": decode_qr_data_url(
        qr.json()["data"]["qrCode"]), "phone_number": "15550001234"})
    if scanned.json().get("status") != "Connected":
        raise RuntimeError(f"instance not linked: {scanned.text}")
    quota = info["data"]["subscription"]["monthlyQuota"]
    if quota < INSTANCE_QUOTA:
        raise RuntimeError(f"instance quota {quota} would run out under load")
    return f"/api/v1/whatsapp/send?{urlencode(keys)}"


def _instance_info(api: httpx.Client, keys: dict[str, str]) -> Any:
    """GET /instance, waiting out the moment before the device service has heard of it."""
    for _ in range(200):
        found = api.get("/api/v1/whatsapp/instance", params=keys)
        if found.status_code != 503:
            found.raise_for_status()
            return found.json()
        time.sleep(0.05)
    raise TimeoutError("instance never became known to the device service")
