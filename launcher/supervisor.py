"""Runs nats-server, the four services and the gateway as processes, and keeps them up.

By default the device service runs in a process of its own and the gateway and the other
three services in one (`SWITCHBOARD_PROCESSES=pair`, launcher/single.py); `single` runs
all five in one process, `split` each in its own (launcher/settings.py `ALONE`). Each
part gets the same environment of its own in any shape (its NATS user, metrics port; auth
its admin password).
A child that exits while the stack is running is logged and restarted with backoff;
stopping sends SIGTERM to every child (gateway first, nats-server last) and waits.
Children die with the launcher: each asks the kernel for SIGTERM when its parent dies
(PR_SET_PDEATHSIG, Linux), so a launcher killed with SIGKILL or by a closed terminal
leaves no orphan holding the stack's ports.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kernel import stackid
from kernel.config import SERVICES
from kernel.keys import private_dir
from launcher import natsauth, natsserver, ports
from launcher.settings import ALONE, OWN_ENV, StackSettings

MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
SINGLE = "switchboard"  # the all-in-one child: logs/switchboard.log, run/switchboard.pid
PARTS = (*SERVICES, natsauth.GATEWAY)
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def die_with_parent(parent: int) -> None:
    """In a child between fork and exec: SIGTERM when the launcher's thread that started
    it ends (the launcher starts children from its main thread only). A launcher that
    died before this ran is caught by the parent check."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff: float = 1.0
    next_start: float = 0.0
    own_env: dict[str, str] = field(default_factory=dict)  # e.g. its NATS credentials

    def start(self, env: dict[str, str]) -> None:
        parent = os.getpid()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         env={**env, **self.own_env}, start_new_session=True,
                                         preexec_fn=lambda: die_with_parent(parent))
        self.started_at = time.monotonic()
        self.pid_path.write_text(str(self.proc.pid))

    @property
    def pid_path(self) -> Path:
        return self.log_path.parent.parent / "run" / f"{self.name}.pid"

    def stop(self, timeout: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Supervisor:
    settings: StackSettings
    say: Callable[[str], None] = print
    children: list[Child] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.var_dir = private_dir(self.settings.var_dir.resolve())  # 0700, and all below
        self.stack_id = stackid.ensure(self.var_dir)  # the processes read it from there
        self.logs = self.var_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.var_dir / "run").mkdir(parents=True, exist_ok=True)
        py = sys.executable
        nats_cmd = natsserver.command(self.settings.nats_port, self.var_dir / "nats",
                                      natsauth.write_server_config(self.settings, self.var_dir))
        self.children = [Child("nats", nats_cmd, self.logs / "nats.log")]
        metrics = ports.metrics_ports(self.settings)
        # each part's own environment (cli.py adds auth's admin password)
        self.own_env = {name: self._nats_login(name) for name in PARTS}
        for name in SERVICES:
            self.own_env[name]["SWITCHBOARD_METRICS_PORT"] = str(metrics[name])
        alone = ALONE[self.settings.processes]
        for name in (part for part in PARTS if part in alone):
            module = "gateway" if name == natsauth.GATEWAY else f"services.{name}"
            self.children.append(Child(name, [py, "-m", module], self.logs / f"{name}.log",
                                       own_env=self.own_env[name]))
        if natsauth.GATEWAY not in alone:  # the all-in-one process, with these services,
            # last: it holds the gateway, which starts last and stops first
            together = [name for name in SERVICES if name not in alone]
            self.children.append(Child(SINGLE, [py, "-m", "launcher.single", *together],
                                       self.logs / f"{SINGLE}.log"))

    def _nats_login(self, user: str) -> dict[str, str]:
        """Each process connects to the stack's nats-server as its own NATS user (with
        SWITCHBOARD_NATS_URL set, to another server: credentials are the caller's)."""
        if "SWITCHBOARD_NATS_URL" in os.environ:
            return {}
        return natsauth.credentials_env(user, self.var_dir)

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def log_of(self, part: str) -> Path:
        """Where `part` (a service, the gateway) logs."""
        return next(c.log_path for c in self.children if c.name in (part, SINGLE))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SWITCHBOARD_VAR_DIR"] = str(self.var_dir)
        env.setdefault("SWITCHBOARD_NATS_URL", self.settings.nats_url)  # from its port, unset
        return env

    def start(self) -> None:
        env = self.env()
        (self.var_dir / "nats").mkdir(parents=True, exist_ok=True)
        if any(child.name == SINGLE for child in self.children):  # the parts' own, in one
            self.child(SINGLE).own_env = {OWN_ENV: json.dumps(self.own_env)}
        nats = self.children[0]
        nats.start(env)
        natsserver.wait_for_port("127.0.0.1", self.settings.nats_port, 10, nats.proc)
        for child in self.children[1:]:
            child.start(env)

    def watch(self) -> None:
        """Restart children that exit, until stop() is called."""
        while not self.stopping.wait(0.2):
            self.tend()

    def tend(self) -> None:
        """Restart the children that exited, each once its backoff is over. `up` calls it
        while it waits for the stack at start too: children are started, and so restarted,
        from the launcher's main thread only (`die_with_parent`)."""
        now = time.monotonic()
        for child in self.children:
            self._tend(child, now)

    def _tend(self, child: Child, now: float) -> None:
        if child.proc is None or child.proc.poll() is None:
            if child.proc is not None and now - child.started_at > STABLE_AFTER:
                child.backoff = 1.0
            return
        if child.proc.returncode == stackid.EXIT_CODE:  # another stack's NATS
            self.say(f"[switchboard] {self.refusal()}")
            self.stopping.set()
        elif child.next_start == 0.0:
            code = child.proc.returncode
            self.say(f"[switchboard] {child.name} exited with code {code}; restarting in "
                     f"{child.backoff:.0f}s (log: {child.log_path})")
            child.next_start = now + child.backoff
            child.backoff = min(child.backoff * 2, MAX_BACKOFF)
        elif now >= child.next_start:
            child.next_start = 0.0
            child.restarts += 1
            child.start(self.env())  # the environment as it is now, for this start only

    def refusal(self) -> str | None:
        """Why the stack cannot run: a child stopped because the NATS it reached holds
        another stack's streams (kernel/stackid.py); its last log line says whose."""
        for child in self.children:
            if child.proc is not None and child.proc.poll() == stackid.EXIT_CODE:
                return f"{child.name} stopped: {last_message(child.log_path)}"
        return None

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for child in reversed(self.children):
            child.stop(timeout)

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: object) -> None:
            self.stopping.set()

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # HUP: terminal gone
            signal.signal(signum, handle)


def last_message(log_path: Path) -> str:
    """The `msg` of a log's last JSON line (kernel/logs.py), or the line itself."""
    with open(log_path, "rb") as log:
        log.seek(max(0, log.seek(0, os.SEEK_END) - 8192))
        lines = log.read().decode(errors="replace").strip().splitlines()
    last = lines[-1] if lines else ""
    try:
        return str(json.loads(last)["msg"])
    except (ValueError, KeyError, TypeError):
        return last
