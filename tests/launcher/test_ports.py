"""`switchboard up` checks every port it needs before it starts anything, and names the
setting that moves a taken one; it knows its own gateway by the stack id in /health
(issue 14, item 4)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kernel.config import SERVICES
from launcher import natsserver, ports
from launcher.health import gateway_health, is_ours
from launcher.natsserver import free_port
from launcher.settings import StackSettings


@pytest.fixture
def held() -> Iterator[int]:
    """A port some other process listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def up(var_dir: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SWITCHBOARD_NATS_URL", "SWITCHBOARD_METRICS_PORT")}
    env.update({"SWITCHBOARD_VAR_DIR": str(var_dir), "SWITCHBOARD_GATEWAY_PORT": str(free_port()),
                "SWITCHBOARD_NATS_PORT": str(free_port()),
                **{f"SWITCHBOARD_{s.upper()}_ADDR": f"127.0.0.1:{free_port()}" for s in SERVICES},
                **{f"SWITCHBOARD_{k.upper()}": v for k, v in settings.items()}})
    return subprocess.run([sys.executable, "-m", "launcher", "up"], env=env,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("setting", ["gateway_port", "nats_port", "billing_addr",
                                     "gateway_metrics_port"])
def test_a_taken_port_stops_up_before_anything_starts(setting: str, held: int,
                                                      tmp_path: Path) -> None:
    value = f"127.0.0.1:{held}" if setting.endswith("_addr") else str(held)
    done = up(tmp_path, **{setting: value})
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {held}" in done.stdout and f"SWITCHBOARD_{setting.upper()}" in done.stdout
    assert "is taken on 127.0.0.1" in done.stdout
    assert not (tmp_path / "run").exists() and not (tmp_path / "logs").exists()


def test_service_metrics_ports_follow_the_metrics_setting(held: int, tmp_path: Path) -> None:
    """Split, SWITCHBOARD_METRICS_PORT is auth's, and the three after it are billing's,
    messaging's and device's: one of those taken is named too."""
    done = up(tmp_path, metrics_port=str(held - 2), processes="split")
    assert done.returncode == 1
    assert f"port {held} for messaging (metrics) is taken" in done.stdout, done.stdout
    assert "SWITCHBOARD_METRICS_PORT" in done.stdout


def test_the_all_in_one_process_serves_its_metrics_on_the_one_port(held: int,
                                                                   tmp_path: Path) -> None:
    """Its services share one registry, served once: one port, not four (by default
    three, with the device's own process on the port after it)."""
    done = up(tmp_path, metrics_port=str(held))
    assert done.returncode == 1
    assert f"port {held} for the services (metrics) is taken" in done.stdout, done.stdout
    single = StackSettings(var_dir=tmp_path, metrics_port=held, processes="single")
    assert [p.number for p in ports.needed(single) if "metrics" in p.user] == [held]
    assert set(ports.metrics_ports(single).values()) == {held}
    pair = StackSettings(var_dir=tmp_path, metrics_port=held, processes="pair")
    assert ports.metrics_ports(pair) == {"auth": held, "billing": held, "messaging": held,
                                         "device": held + 1}


def test_the_device_process_of_the_default_stack_names_its_metrics_port(
        held: int, tmp_path: Path) -> None:
    done = up(tmp_path, metrics_port=str(held - 1))
    assert done.returncode == 1
    assert f"port {held} for device (metrics) is taken" in done.stdout, done.stdout


def test_a_port_given_twice_is_named(tmp_path: Path) -> None:
    port = str(free_port())
    done = up(tmp_path, gateway_port=port, nats_port=port)
    assert done.returncode == 1
    assert (f"port {port} is set for both the gateway (SWITCHBOARD_GATEWAY_PORT) and "
            "nats-server (SWITCHBOARD_NATS_PORT)") in done.stdout, done.stdout


class Impostor(BaseHTTPRequestHandler):
    """Another stack's gateway, or anything else answering on the port."""

    answer: dict[str, object] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps(self.answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_only_the_gateway_of_this_stack_counts_as_up() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        Impostor.answer = {"status": "ok", "services": {}, "stack": "0123456789ab"}
        assert not is_ours(gateway_health("127.0.0.1", port), "ba9876543210")
        assert is_ours(gateway_health("127.0.0.1", port), "0123456789ab")
        Impostor.answer = {"status": "ok"}  # not a Switchboard gateway at all
        assert gateway_health("127.0.0.1", port) is None
    finally:
        server.shutdown()
        server.server_close()
    assert gateway_health("127.0.0.1", port) is None


def test_ports_are_picked_from_the_part_given_and_each_worker_has_its_own() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # tests/conftest.py gave this worker its part of the range
        count = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
        low, high = natsserver.PICKED_PORTS
        assert high - low + 1 == (32_767 - 20_000 + 1) // count
        assert low == 20_000 + int(worker.removeprefix("gw")) * (high - low + 1)
    saved = natsserver.PICKED_PORTS
    try:
        natsserver.pick_ports_from(25_000, 25_009)
        picked = {free_port() for _ in range(30)}
        assert picked <= set(range(25_000, 25_010)) and len(picked) > 1
    finally:
        natsserver.pick_ports_from(*saved)
