"""The whole stack as `make run` starts it (`switchboard up`), on free ports in a temp dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from kernel.config import SERVICES
from launcher.natsserver import free_port


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    url: str
    var_dir: Path
    env: dict[str, str]

    def nats_url(self, user: str = "billing") -> str:
        """The stack's nats-server as one of its users (billing reads every stream)."""
        password = (self.var_dir / "secrets" / f"nats-{user}").read_text().strip()
        return f"nats://{user}:{password}@127.0.0.1:{self.env['SWITCHBOARD_NATS_PORT']}"

    def pid(self, name: str) -> int:
        """A child's pid: nats, and switchboard (all in one) or each of the services and
        the gateway (`processes="split"`)."""
        return int((self.var_dir / "run" / f"{name}.pid").read_text())

    def pids(self) -> dict[str, int]:
        """Every child's pid, by name."""
        return {path.stem: int(path.read_text())
                for path in (self.var_dir / "run").glob("*.pid")}

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stdout.read() if self.proc.stdout else ""
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"stack not healthy after {timeout}s; logs in {self.var_dir}/logs")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def start_stack(var_dir: Path, **settings: str) -> Stack:
    env = dict(os.environ)
    gateway_port = free_port()
    env.update({
        "SWITCHBOARD_VAR_DIR": str(var_dir),
        "SWITCHBOARD_GATEWAY_PORT": str(gateway_port),
        "SWITCHBOARD_NATS_PORT": str(free_port()),
        "SWITCHBOARD_SIM_DELIVERY_DELAY_MS": "50",
        "SWITCHBOARD_SIM_READ_DELAY_MS": "100",
    })
    env.pop("SWITCHBOARD_NATS_URL", None)
    for name in SERVICES:
        env[f"SWITCHBOARD_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    env.update({f"SWITCHBOARD_{k.upper()}": v for k, v in settings.items()})
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "up"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return Stack(proc, f"http://127.0.0.1:{gateway_port}", var_dir, env)


@contextmanager
def running_stack(var_dir: Path, **settings: str) -> Iterator[Stack]:
    """`start_stack`, healthy, for the block; it must stop cleanly after it."""
    running = start_stack(var_dir, **settings)
    try:
        running.wait_healthy()
        yield running
    finally:
        assert running.stop() == 0
