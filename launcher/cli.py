"""`switchboard`: run the whole stack, one service, or an operator's task."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import runpy
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kernel import keys, stackid
from kernel.config import ADMIN_PASSWORD, SERVICES
from kernel.progress import Progress, reporting
from launcher import banner, natsauth, ports
from launcher.health import gateway_health, is_ours, pool_settled
from launcher.settings import PROCESS_SETTINGS, StackSettings
from launcher.supervisor import Supervisor

POOL_WAIT = 30.0  # s after the gateway answers: the simulator's pool links in well under it
REBUILDERS = {
    "history": "services.messaging.rebuild:rebuild_history",
    "inbox": "services.messaging.rebuild:rebuild_inbox",
    "quota": "services.billing.rebuild:rebuild_quota",
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    os.umask(0o077)  # stores, logs and keys this process and its children write: owner only
    if args.command == "keys":
        return new_keys(args.env_file)
    try:  # `service`: that process's own settings; else every process's
        settings = PROCESS_SETTINGS[args.name]() if args.command == "service" \
            else StackSettings()
    except ValidationError as exc:
        reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        print(f"switchboard: refusing to start: {reasons}", file=sys.stderr)
        return 2
    if args.command == "service":
        return run_service(args.name)
    assert isinstance(settings, StackSettings)
    if args.command == "up":
        return up(settings)
    return operator_task(args, settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Switchboard, a self-hosted WhatsApp messaging gateway. Settings come "
                    "from SWITCHBOARD_* environment variables (see docs/configuration.md).")
    parser.add_argument("--version", action="version", version=f"switchboard {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run nats-server, the four services and the gateway")
    status = sub.add_parser("status", help="the stack: its id, ports, services' health and "
                                           "devices (exit code 1 unless all is well)")
    status.add_argument("--json", action="store_true", help="as one JSON object")
    one = sub.add_parser("service", help="run one service in the foreground")
    one.add_argument("name", choices=[*SERVICES, "gateway"])
    admin = sub.add_parser("admin", help="manage administrators")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create", help="create an admin (or make a user admin); "
                                                 "the password is asked for")
    _account_arguments(create)
    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    register = user_sub.add_parser("create", help="register a user (also while sign-up is "
                                                  "closed); the password is asked for")
    _account_arguments(register)
    register.add_argument("--email", default="")
    keyfile = sub.add_parser("keys", help="write fresh keys (jwt-secret, secret-pepper, "
                                          "admin-password) to a new env file, mode 0600")
    keyfile.add_argument("--env-file", required=True, type=Path)
    projections = sub.add_parser("projections", help="manage read models")
    proj_sub = projections.add_subparsers(dest="projections_command", required=True)
    rebuild = proj_sub.add_parser("rebuild", help="drop a view and replay its streams")
    rebuild.add_argument("name", choices=sorted(REBUILDERS))
    return parser


def _account_arguments(command: argparse.ArgumentParser) -> None:
    """A password is typed at a prompt or piped in, never an argument: `ps` and shell
    history would show it (`--password` stays, to say so)."""
    command.add_argument("--username", required=True)
    command.add_argument("--password-stdin", action="store_true",
                         help="read the password from the first line of stdin")
    command.add_argument("--password", help=argparse.SUPPRESS)


def _version() -> str:
    try:
        return importlib.metadata.version("switchboard-gateway")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed: run `make install`)"


def operator_task(args: argparse.Namespace, settings: StackSettings) -> int:
    """status, admin, user, projections: their gRPC and NATS clients load here alone, so
    the process `up` leaves running to supervise the stack holds none of them."""
    import asyncio

    from launcher.accounts import create_admin, create_user, read_password
    from launcher.status import show_status

    if args.command == "status":
        return asyncio.run(show_status(settings, args.json))
    if args.command in ("admin", "user"):
        password = read_password(args.password, args.password_stdin)
        if password is None:
            return 2
        if args.command == "admin":
            return asyncio.run(create_admin(settings, args.username, password))
        return asyncio.run(create_user(settings, args.username, password, args.email))
    return asyncio.run(rebuild_projection(settings, args.name))


def up(settings: StackSettings) -> int:
    if taken := ports.problems(settings):  # before anything starts
        print("\n".join(["[switchboard] cannot start:", *(f"  {t}" for t in taken)]))
        return 1
    admin_line, admin_env = _embedded_admin(settings)
    supervisor = Supervisor(settings)
    supervisor.own_env["auth"].update(admin_env)  # auth alone needs it
    supervisor.install_signal_handlers()
    started = time.monotonic()
    supervisor.start()
    url = f"http://{settings.host}:{settings.gateway_port}"
    if not _wait_healthy(settings, supervisor, timeout=60.0):
        why = supervisor.refusal() or f"the stack did not become healthy; see {supervisor.logs}"
        print(f"[switchboard] {why}", flush=True)
        supervisor.stop()
        return 1
    _wait_pool(settings, supervisor)
    took = time.monotonic() - started
    print(_banner(settings, url, supervisor, took, admin_line, _status_report(supervisor)),
          flush=True)
    supervisor.watch()
    print("[switchboard] stopping...", flush=True)
    supervisor.stop()
    print("[switchboard] stopped.", flush=True)
    return 1 if supervisor.refusal() else 0


def _wait_healthy(settings: StackSettings, supervisor: Supervisor, timeout: float) -> bool:
    return _wait_until(lambda: is_ours(gateway_health(settings.host, settings.gateway_port),
                                       supervisor.stack_id), supervisor, timeout)


def _wait_pool(settings: StackSettings, supervisor: Supervisor) -> None:
    """Up means the pool is there too: wait (bounded) until the device service reports
    the pool its transport should have at start; say so when it does not."""
    if _wait_until(lambda: pool_settled(gateway_health(settings.host, settings.gateway_port),
                                        settings.transport, settings.sim_pool),
                   supervisor, timeout=POOL_WAIT):
        return
    expected = f"its {settings.sim_pool} simulated pool devices (SWITCHBOARD_SIM_POOL) " \
        "linked" if settings.transport == "simulator" else "its pool reported"
    print(f"[switchboard] the device service did not have {expected} within "
          f"{POOL_WAIT:.0f}s; the banner shows the pool as it is (see `switchboard status` "
          f"and {supervisor.log_of('device')})", flush=True)


def _wait_until(ready: Callable[[], bool], supervisor: Supervisor, timeout: float) -> bool:
    """Poll `ready` until it holds; False after `timeout` or once the stack stops. A
    child that exits meanwhile is restarted as it would be once the stack is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not supervisor.stopping.is_set():
        if supervisor.refusal():
            return False
        if ready():
            return True
        supervisor.tend()
        time.sleep(0.1)
    return False


def _embedded_admin(settings: StackSettings) -> tuple[str, dict[str, str]]:
    """Local use: an admin password unless one is set, generated on first start and kept
    (0600) for the services `up` starts. Shown on first start only."""
    who = settings.admin_user
    if not who:
        return "none (SWITCHBOARD_ADMIN_USER is empty)", {}
    if settings.admin_password:
        return f"{who}, password as set in SWITCHBOARD_ADMIN_PASSWORD", {}
    if settings.environment != "local":
        return f"none ensured ({who} needs SWITCHBOARD_ADMIN_PASSWORD)", {}
    password, created = keys.stored_secret(settings.var_dir, ADMIN_PASSWORD, nbytes=18)
    kept = keys.secret_path(settings.var_dir.resolve(), ADMIN_PASSWORD)
    env = {"SWITCHBOARD_ADMIN_PASSWORD": password}
    if created:
        return f"{who} / {password}   (shown this once; kept in {kept})", env
    return f"{who}, password kept in {kept}", env


def _banner(settings: StackSettings, url: str, supervisor: Supervisor, took: float,
            admin_line: str, report: dict[str, Any] | None) -> str:
    return "\n".join([
        f"Switchboard is up ({took:.1f}s).",
        f"  Gateway:      {url}" + (f"   (API docs: {url}/docs)" if settings.api_docs else ""),
        f"  Admin login:  {admin_line}",
        *banner.lines("Transport:", banner.pool(report, settings.transport)),
        *banner.lines("gRPC:", [f"{s} {settings.service_addr(s)}" for s in SERVICES]),
        f"  Stack:        {supervisor.stack_id} (`switchboard status` shows it)",
        f"  Data, logs:   {supervisor.var_dir}, {supervisor.logs}",
        "Press Ctrl-C to stop.",
    ])


def _status_report(supervisor: Supervisor) -> dict[str, Any] | None:
    """`switchboard status --json` of the stack just started, in a process of its own
    (its gRPC client stays out of the supervising one); None when it says nothing."""
    asking = subprocess.Popen([sys.executable, "-m", "launcher", "status", "--json"],
                              env=supervisor.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            out, _ = asking.communicate(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                asking.kill()
                asking.communicate()
                return None
            supervisor.tend()  # a child that exits meanwhile is restarted
    try:
        return dict(json.loads(out))
    except ValueError:
        return None


def new_keys(path: Path) -> int:
    if not keys.write_env_file(path):
        print(f"{path} exists: left as it is (delete it to generate new keys)")
        return 1
    print(f"new keys written to {path} (mode 0600)")
    return 0


def run_service(name: str) -> int:
    runpy.run_module("gateway" if name == "gateway" else f"services.{name}",
                     run_name="__main__", alter_sys=True)
    return 0


async def rebuild_projection(settings: StackSettings, name: str) -> int:
    module_name, _, func = REBUILDERS[name].partition(":")
    rebuild = getattr(importlib.import_module(module_name), func)
    started = time.monotonic()
    try:  # progress lines on stderr as it goes (kernel/progress.py)
        with reporting(Progress(f"rebuild {name}")):
            count = await rebuild(natsauth.as_user(module_name.split(".")[1], settings))
    except stackid.ForeignStack as exc:
        print(f"switchboard: refusing to rebuild {name}: "
              f"{exc.explain(settings.nats_url, settings.var_dir)}", file=sys.stderr)
        return 2
    took = time.monotonic() - started
    print(f"rebuilt {name}: {count} events replayed in {took:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
