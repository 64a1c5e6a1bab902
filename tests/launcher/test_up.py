"""The stack `switchboard up` runs, seen from outside: the ports it listens on, the stack
id its gateway and streams carry, the banner, `switchboard status`, and accounts made
with a password that is never an argument (issue 14, items 3, 4, 6, 10, 11)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kernel import stackid
from kernel.config import SERVICES
from launcher.natsserver import free_port
from tests.e2e.test_local_keys import banner
from tests.launcher.listening import listening_ports
from tests.launcher.test_stack_id import stream_stack
from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def metrics_port() -> int:
    """The all-in-one process's; the device service's own process serves the port after
    it (both picked here, so the stack's other ports are picked after them)."""
    first, second = free_port(), free_port()
    while second != first + 1:  # a port between them was taken: pick on
        first, second = second, free_port()
    return first


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory,
            metrics_port: int) -> Iterator[tuple[Stack, str]]:
    running = start_stack(tmp_path_factory.mktemp("up"), metrics_port=str(metrics_port))
    try:
        running.wait_healthy()
        yield running, banner(running)
    finally:
        assert running.stop() == 0


@pytest.fixture(scope="module")
def stack(started: tuple[Stack, str]) -> Stack:
    return started[0]


def switchboard(stack: Stack, *args: str, stdin: str | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", *args], env=env or stack.env,
                          input=stdin, capture_output=True, text=True, timeout=60)


def signs_in(stack: Stack, username: str, password: str) -> bool:
    reply = httpx.post(f"{stack.url}/api/auth/login", timeout=10,
                       json={"username": username, "password": password})
    return reply.status_code == 200 and reply.json()["is_admin"] is True


def test_the_stack_listens_on_the_ports_it_was_given_and_no_other(
        stack: Stack, metrics_port: int) -> None:
    env = stack.env
    given = {int(env["SWITCHBOARD_GATEWAY_PORT"]), int(env["SWITCHBOARD_NATS_PORT"]),
             *(int(env[f"SWITCHBOARD_{s.upper()}_ADDR"].rsplit(":", 1)[1]) for s in SERVICES),
             metrics_port, metrics_port + 1}  # the all-in-one process's, the device's
    pids = list(stack.pids().values())  # nats-server's and the two processes'
    assert listening_ports(pids) == given
    pages = {port: httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
             for port in (metrics_port, metrics_port + 1)}
    assert all(page.status_code == 200 and "switchboard_grpc_server_requests_total" in
               page.text for page in pages.values())
    for service in SERVICES:  # each service's relay, once, in its own process's registry
        page = pages[metrics_port + (service == "device")]
        assert page.text.count(f'switchboard_relay_lag_events{{service="{service}"}}') == 1


async def test_the_gateway_and_the_streams_carry_the_stacks_id(stack: Stack) -> None:
    kept = stackid.read(Path(stack.var_dir))
    assert len(kept) == 12
    async with httpx.AsyncClient() as client:
        health = (await client.get(f"{stack.url}/health", timeout=10)).json()
    assert health["stack"] == kept
    for service in SERVICES:
        assert await stream_stack(stack.nats_url(), service) == kept


def test_the_banner_shows_the_real_pool_the_grpc_addresses_and_the_stack(
        started: tuple[Stack, str]) -> None:
    stack, printed = started
    transport = next(line for line in printed.splitlines() if "Transport:" in line)
    assert "simulator; pool: 3 linked devices: pool-1 (" in transport, printed
    for service in SERVICES:
        assert f"{service} {stack.env[f'SWITCHBOARD_{service.upper()}_ADDR']}" in printed
    assert stackid.read(stack.var_dir) in printed


def test_up_waits_for_the_simulators_pool_and_says_when_it_does_not_link(
        tmp_path: Path) -> None:
    """`up` prints its banner once the simulator's configured pool is linked, within a
    bounded wait: with pool-1 banned in an earlier run, a pool of two never is, and `up`
    says so (then shows the pool as it is) instead of passing it off as complete."""
    first = start_stack(tmp_path, sim_pool="1")
    try:
        banner(first)
        banned = httpx.post(f"{first.url}/simulator/phone-event", timeout=10,
                            json={"device_id": "pool-1", "event": "ban"})
        assert banned.status_code == 200, banned.text
    finally:
        assert first.stop() == 0
    again = start_stack(tmp_path, sim_pool="2")
    try:
        printed = banner(again)
    finally:
        assert again.stop() == 0
    assert "the device service did not have its 2 simulated pool devices " \
           "(SWITCHBOARD_SIM_POOL) linked within 30s" in printed, printed
    assert printed.index("did not have") < printed.index("Switchboard is up")
    transport = next(line for line in printed.splitlines() if "Transport:" in line)
    assert "pool-2 (connected)" in transport, printed


def test_status_shows_the_stack_its_ports_services_and_devices(stack: Stack,
                                                               metrics_port: int) -> None:
    done = switchboard(stack, "status", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    got = json.loads(done.stdout)
    assert got["stack"] == stackid.read(stack.var_dir) and got["gateway"]["state"] == "ok"
    assert got["nats"] == {"addr": f"127.0.0.1:{stack.env['SWITCHBOARD_NATS_PORT']}",
                           "state": "listening"}
    assert got["services"]["billing"] == {
        "addr": stack.env["SWITCHBOARD_BILLING_ADDR"], "state": "SERVING",
        "metrics_port": metrics_port}
    pool = sorted(d["device_id"] for d in got["devices"] if d["pooled"] and d["linked"])
    assert pool == ["pool-1", "pool-2", "pool-3"]
    assert {d["state"] for d in got["devices"]} == {"connected"}
    text = switchboard(stack, "status")
    assert text.returncode == 0 and f"Stack {got['stack']}" in text.stdout
    assert "pool-2" in text.stdout and "SERVING" in text.stdout


def test_status_says_when_it_reaches_another_stacks_gateway(stack: Stack,
                                                            tmp_path: Path) -> None:
    elsewhere = {**stack.env, "SWITCHBOARD_VAR_DIR": str(tmp_path)}
    stackid.ensure(tmp_path)
    done = switchboard(stack, "status", env=elsewhere)
    assert done.returncode == 1
    assert f"another stack's gateway answers ({stackid.read(stack.var_dir)})" in done.stdout


def test_version() -> None:
    done = subprocess.run([sys.executable, "-m", "launcher", "--version"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "switchboard 0.1.0"


def test_admin_create_takes_the_password_from_stdin_never_an_argument(stack: Stack) -> None:
    refused = switchboard(stack, "admin", "create", "--username", "argued", "--password",
                          "argued-password-1")
    assert refused.returncode == 2 and "shows in `ps`" in refused.stderr
    assert not signs_in(stack, "argued", "argued-password-1")
    piped = switchboard(stack, "admin", "create", "--username", "piped", "--password-stdin",
                        stdin="piped-password-1\n")
    assert piped.returncode == 0 and "admin piped (user_id" in piped.stdout, piped.stderr
    assert signs_in(stack, "piped", "piped-password-1")
    no_tty = switchboard(stack, "admin", "create", "--username", "nobody", stdin="")
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr


def test_admin_create_asks_for_the_password_at_a_terminal(stack: Stack) -> None:
    pid, terminal = pty.fork()
    if pid == 0:  # the child: its terminal is the pty, as at a shell prompt
        os.execve(sys.executable, [sys.executable, "-m", "launcher", "admin", "create",
                                   "--username", "prompted"], stack.env)
    said = answer(terminal, "Password: ", "prompted-password-1")
    said += answer(terminal, "Password again: ", "prompted-password-1")
    said += read_all(terminal)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, said
    assert "prompted-password-1" not in said  # not echoed
    assert signs_in(stack, "prompted", "prompted-password-1")


def answer(terminal: int, prompt: str, reply: str) -> str:
    said = ""
    deadline = time.monotonic() + 60
    while not said.endswith(prompt):
        assert time.monotonic() < deadline, said
        said += os.read(terminal, 1024).decode()
    os.write(terminal, f"{reply}\n".encode())
    return said


def read_all(terminal: int) -> str:
    said = b""
    while True:
        try:
            chunk = os.read(terminal, 1024)
        except OSError:  # the child closed the terminal
            return said.decode()
        if not chunk:
            return said.decode()
        said += chunk
