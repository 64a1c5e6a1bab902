"""`switchboard up`'s default: the gateway, auth, billing and messaging in one process and
the device service in its own, beside nats-server (`SWITCHBOARD_PROCESSES=pair`,
launcher/single.py). They listen where the processes of `split` listen, each part logs
under its own name, a message goes from send to Read through them, and the all-in-one
process killed with SIGKILL is started again and serves again. (Under load:
tests/e2e/test_crash_under_load.py; the banner and `switchboard status` of the default
stack: tests/launcher/test_up.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.config import SERVICES
from tests.e2e import test_thin_path as thin_path
from tests.launcher.listening import listening_ports
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("single"), admin_user="root",
                       admin_password="root-password-1") as running:
        yield running


def grpc_port(stack: Stack, service: str) -> int:
    return int(stack.env[f"SWITCHBOARD_{service.upper()}_ADDR"].rsplit(":", 1)[1])


def test_the_default_stack_is_two_processes_beside_nats_listening_for_every_part(
        stack: Stack) -> None:
    assert sorted(stack.pids()) == ["device", "nats", "switchboard"]
    assert listening_ports([stack.pid("switchboard")]) == {
        int(stack.env["SWITCHBOARD_GATEWAY_PORT"]),
        *(grpc_port(stack, s) for s in SERVICES if s != "device")}
    assert listening_ports([stack.pid("device")]) == {grpc_port(stack, "device")}


def test_each_part_logs_under_its_own_name(stack: Stack) -> None:
    together = [s for s in SERVICES if s != "device"]
    lines = (stack.var_dir / "logs" / "switchboard.log").read_text().splitlines()
    named = {json.loads(line)["service"] for line in lines if line.startswith("{")}
    assert named == {*together, "gateway"}
    listening = [json.loads(line) for line in lines if " listening on " in line]
    assert {(entry["service"], entry["msg"].split()[0]) for entry in listening} == {
        (s, s) for s in together}
    device = (stack.var_dir / "logs" / "device.log").read_text().splitlines()
    assert {json.loads(line)["service"] for line in device if line.startswith("{")} == {
        "device"}


# the thin path's walk (register, top up, send, Sent, Read), on this module's stack
test_a_message_goes_from_send_to_read = thin_path.test_register_login_topup_send_and_track


def test_the_killed_process_is_started_again_and_serves(stack: Stack, unique: str) -> None:
    old = stack.pid("switchboard")
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while stack.pids().get("switchboard") in (old, None):
        assert time.monotonic() < deadline, "the all-in-one process was not restarted"
        time.sleep(0.1)
    stack.wait_healthy(60)
    assert stack.proc.poll() is None
    thin_path.test_register_login_topup_send_and_track(stack, f"{unique}again")


def test_the_all_in_one_process_runs_services_only_and_says_which(tmp_path: Path) -> None:
    """The gateway always runs in it; a name that is not a service is refused before
    anything starts."""
    done = subprocess.run([sys.executable, "-m", "launcher.single", "auth", "gateway"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SWITCHBOARD_VAR_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert "not services: gateway (they are auth, billing, messaging, device)" in done.stderr
    assert list(tmp_path.iterdir()) == []
