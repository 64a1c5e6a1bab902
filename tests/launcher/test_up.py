"""The stack `switchboard up` runs, seen from outside: the ports it listens on, the stack
id its gateway and streams carry (issue 14, items 3, 4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kernel import stackid
from kernel.config import SERVICES
from launcher.natsserver import free_port
from tests.launcher.listening import listening_ports
from tests.launcher.test_stack_id import stream_stack
from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def metrics_port() -> int:
    """auth's; billing, messaging and device take the three after it (picked here, so
    the stack's other ports are picked after them)."""
    while True:
        picked = [free_port() for _ in range(4)]
        if picked == list(range(picked[0], picked[0] + 4)):
            return picked[0]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, metrics_port: int) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("up"), metrics_port=str(metrics_port))
    try:
        running.wait_healthy()
        yield running
    finally:
        assert running.stop() == 0


def test_the_stack_listens_on_the_ports_it_was_given_and_no_other(
        stack: Stack, metrics_port: int) -> None:
    env = stack.env
    given = {int(env["SWITCHBOARD_GATEWAY_PORT"]), int(env["SWITCHBOARD_NATS_PORT"]),
             *(int(env[f"SWITCHBOARD_{s.upper()}_ADDR"].rsplit(":", 1)[1]) for s in SERVICES),
             *range(metrics_port, metrics_port + 4)}
    pids = [stack.pid(name) for name in ("nats", *SERVICES, "gateway")]
    assert listening_ports(pids) == given
    device = httpx.get(f"http://127.0.0.1:{metrics_port + 3}/metrics", timeout=10)
    assert device.status_code == 200 and "switchboard_grpc_server_requests_total" in device.text


async def test_the_gateway_and_the_streams_carry_the_stacks_id(stack: Stack) -> None:
    kept = stackid.read(Path(stack.var_dir))
    assert len(kept) == 12
    async with httpx.AsyncClient() as client:
        health = (await client.get(f"{stack.url}/health", timeout=10)).json()
    assert health["stack"] == kept
    for service in SERVICES:
        assert await stream_stack(stack.nats_url(), service) == kept
