"""kill -9 while inbound messages arrive: the device service, then the messaging
service, killed with SIGKILL while a phone keeps sending to a linked instance (each
message with its own id, retried as any client would after a 5xx or a cut connection);
each restarted by the supervisor. Every message ends up in the owner's inbox exactly
once: the far side holds what the device has not recorded, the device records each
transport id once, and messaging's inbox projection applies each event once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e import test_inbound as inbound
from tests.e2e.test_inbound import ADMIN, UNLIMITED, admin_token, bearer, until
from tests.support.load import new_tenant
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

MESSAGES = 80
KILLS = {20: "device", 50: "messaging"}  # after this many were answered
INSTANCE_PHONE = "15550005555"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("inbound-crash"), admin_user=ADMIN[0],
                       admin_password=ADMIN[1], log_level="WARNING", processes="split",
                       **UNLIMITED) as running:  # kills one service
        yield running


api = inbound.api  # a client of this module's stack


async def send_until_taken(api: httpx.AsyncClient, i: int) -> int:
    """One phone message, retried with its id until the far side has taken it; how many
    tries failed."""
    deadline, failed = time.monotonic() + 90, 0
    while True:
        try:
            answer = await api.post("/simulator/reply", json={
                "from": "27825550000", "to": INSTANCE_PHONE, "message": f"m-{i}",
                "message_id": f"crash-{i}"})
            if answer.status_code == 200:
                return failed
            assert answer.status_code >= 500, answer.text
        except httpx.TransportError:
            pass
        failed += 1
        assert time.monotonic() < deadline, f"message {i} never taken"
        await asyncio.sleep(0.2)


def kill(stack: Stack, name: str) -> int:
    """SIGKILL the part `name` at once; its pid."""
    old = stack.pid(name)
    os.kill(old, signal.SIGKILL)
    return old


def wait_restarted(stack: Stack, name: str, old: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if stack.pid(name) != old:
                break
        except ValueError:  # the supervisor is rewriting the pid file
            pass
        assert time.monotonic() < deadline, f"{name} was not restarted"
        time.sleep(0.05)
    stack.wait_healthy(30)


async def test_kill_9_of_device_and_messaging_loses_and_doubles_no_inbound_message(
        stack, api, unique):
    owner = await new_tenant(api, await admin_token(api), f"eve-{unique}", 10,
                             phone=INSTANCE_PHONE)
    todo = iter(range(MESSAGES))
    taken = failed = 0
    kills: list[asyncio.Task[None]] = []

    async def phone() -> None:  # four senders at once: the kills land mid-hand-over
        nonlocal taken, failed
        for i in todo:
            failed += await send_until_taken(api, i)
            taken += 1
            if taken in KILLS:  # killed now, in this phone's turn; every phone goes on
                name = KILLS[taken]  # sending while it is down
                kills.append(asyncio.create_task(
                    asyncio.to_thread(wait_restarted, stack, name, kill(stack, name))))

    await asyncio.gather(*(phone() for _ in range(4)))
    await asyncio.gather(*kills)
    assert len(kills) == len(KILLS) and failed > 0  # the phone met the outages

    async def texts() -> Counter[str]:
        answer = await api.get("/api/messages/inbox", params={"per_page": 100},
                               headers=bearer(owner))
        return Counter(m["message"] for m in answer.json()["messages"]) \
            if answer.status_code == 200 else Counter()

    async def all_in() -> bool:
        return sum((await texts()).values()) >= MESSAGES

    await until(all_in, within=60)
    await asyncio.sleep(2.0)  # a late duplicate would show by now
    found = await texts()
    assert set(found) == {f"m-{i}" for i in range(MESSAGES)}, "lost: " + ", ".join(
        sorted({f"m-{i}" for i in range(MESSAGES)} - set(found)))
    assert max(found.values()) == 1, [t for t, n in found.items() if n > 1]
