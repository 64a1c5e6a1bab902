"""`switchboard`: run the whole stack, one service, or an operator's task."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import runpy
import sys
import time

import httpx

from kernel.config import SERVICES, Settings
from launcher.supervisor import Supervisor

REBUILDERS = {
    "history": "services.messaging.rebuild:rebuild_history",
    "quota": "services.billing.rebuild:rebuild_quota",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Switchboard, a self-hosted WhatsApp messaging gateway. Settings come "
                    "from SWITCHBOARD_* environment variables (see docs/configuration.md).")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run nats-server, the four services and the gateway")
    one = sub.add_parser("service", help="run one service in the foreground")
    one.add_argument("name", choices=[*SERVICES, "gateway"])
    admin = sub.add_parser("admin", help="manage administrators")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create", help="create an admin (or make a user admin)")
    create.add_argument("--username", required=True)
    create.add_argument("--password", required=True)
    projections = sub.add_parser("projections", help="manage read models")
    proj_sub = projections.add_subparsers(dest="projections_command", required=True)
    rebuild = proj_sub.add_parser("rebuild", help="drop a view and replay its streams")
    rebuild.add_argument("name", choices=sorted(REBUILDERS))
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "up":
        return up(settings)
    if args.command == "service":
        return run_service(args.name)
    if args.command == "admin":
        return asyncio.run(create_admin(settings, args.username, args.password))
    return asyncio.run(rebuild_projection(settings, args.name))


def up(settings: Settings) -> int:
    supervisor = Supervisor(settings)
    supervisor.install_signal_handlers()
    started = time.monotonic()
    supervisor.start()
    url = f"http://{settings.host}:{settings.gateway_port}"
    if not _wait_healthy(url, supervisor, timeout=60.0):
        print(f"[switchboard] the stack did not become healthy; see {supervisor.logs}")
        supervisor.stop()
        return 1
    print(_banner(settings, url, supervisor, time.monotonic() - started), flush=True)
    supervisor.watch()
    print("[switchboard] stopping...", flush=True)
    supervisor.stop()
    print("[switchboard] stopped.", flush=True)
    return 0


def _wait_healthy(url: str, supervisor: Supervisor, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not supervisor.stopping.is_set():
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def _banner(settings: Settings, url: str, supervisor: Supervisor, took: float) -> str:
    return "\n".join([
        f"Switchboard is up ({took:.1f}s).",
        f"  Gateway:      {url}   (API docs: {url}/docs)",
        f"  Admin login:  {settings.admin_user} / {settings.admin_password}"
        "   (SWITCHBOARD_ADMIN_USER / SWITCHBOARD_ADMIN_PASSWORD)",
        f"  Transport:    {settings.transport} ({settings.sim_pool} linked pool devices)",
        f"  Data, logs:   {supervisor.var_dir}, {supervisor.logs}",
        "Press Ctrl-C to stop.",
    ])


def run_service(name: str) -> int:
    runpy.run_module("gateway" if name == "gateway" else f"services.{name}",
                     run_name="__main__", alter_sys=True)
    return 0


async def create_admin(settings: Settings, username: str, password: str) -> int:
    from kernel.rpc import channel
    from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc

    async with channel(settings.service_addr("auth"), settings, identity="cli") as chan:
        user = await auth_pb2_grpc.AuthServiceStub(chan).EnsureAdmin(
            auth_pb2.EnsureAdminRequest(username=username, password=password))
    print(f"admin {user.username} (user_id {user.user_id}) is ready")
    return 0


async def rebuild_projection(settings: Settings, name: str) -> int:
    module_name, _, func = REBUILDERS[name].partition(":")
    rebuild = getattr(importlib.import_module(module_name), func)
    started = time.monotonic()
    count = await rebuild(settings)
    took = time.monotonic() - started
    print(f"rebuilt {name}: {count} events replayed in {took:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
