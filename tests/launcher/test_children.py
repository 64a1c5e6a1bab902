"""`switchboard up` owns its children: a launcher killed outright (SIGKILL, a terminal
closed hard) takes nats-server, the services and the gateway with it, and their ports
are free for the next start (issue 14, item 5)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from kernel.config import SERVICES
from launcher import ports
from launcher.settings import StackSettings
from launcher.supervisor import Supervisor
from tests.launcher.listening import listening_ports
from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e

CHILDREN = {"pair": ("nats", "switchboard", "device"), "single": ("nats", "switchboard"),
            "split": ("nats", *SERVICES, "gateway")}


@pytest.mark.parametrize(("processes", "order"), [
    ("pair", ["nats", "device", "switchboard"]),
    ("single", ["nats", "switchboard"]),
    ("split", ["nats", *SERVICES, "gateway"])])
def test_the_part_with_the_gateway_starts_last_and_stops_first(
        tmp_path: Path, processes: str, order: list[str]) -> None:
    """Children start in this order and stop in the reverse: nats-server first and last,
    the gateway's process last and first, so no request comes in to parts stopping."""
    children = Supervisor(StackSettings(var_dir=tmp_path, processes=processes)).children
    assert [child.name for child in children] == order
    together = [c.argv[3:] for c in children if c.argv[1:3] == ["-m", "launcher.single"]]
    assert together == {"pair": [["auth", "billing", "messaging"]],
                        "single": [list(SERVICES)], "split": []}[processes]


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def stack_ports(stack: Stack) -> list[int]:
    env = stack.env
    grpc = [int(env[f"SWITCHBOARD_{s.upper()}_ADDR"].rsplit(":", 1)[1]) for s in SERVICES]
    return [int(env["SWITCHBOARD_GATEWAY_PORT"]), int(env["SWITCHBOARD_NATS_PORT"]), *grpc]


@pytest.mark.parametrize("processes", sorted(CHILDREN))
def test_a_killed_launcher_takes_its_children_and_their_ports_with_it(
        tmp_path: Path, processes: str) -> None:
    stack = start_stack(tmp_path, processes=processes)
    pids: list[int] = []
    try:
        stack.wait_healthy()
        assert sorted(stack.pids()) == sorted(CHILDREN[processes])
        pids = [stack.pid(name) for name in CHILDREN[processes]]
        assert all(alive(pid) for pid in pids)
        # by default the embedded stack serves no service /metrics (no 9151-9154 to collide)
        assert listening_ports(pids) == set(stack_ports(stack))
        stack.proc.send_signal(signal.SIGKILL)
        stack.proc.wait(10)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [name for name, pid in zip(CHILDREN[processes], pids, strict=True)
                if alive(pid)]
        assert left == [], f"orphans after the launcher died: {left}"
        assert [p for p in stack_ports(stack) if not ports.free("127.0.0.1", p)] == []
    finally:
        for pid in pids:  # a failing run leaves nothing behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
