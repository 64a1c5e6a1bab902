"""The all-in-one process: the gateway and the services named on its command line (all
four when none is), in one Python process, on one event loop, each as it runs on its own.
`switchboard up` runs it with auth, billing and messaging beside the device service's own
process (`SWITCHBOARD_PROCESSES=pair`, the default), or with all four (`single`).

Each service keeps its own composition root, settings, store, NATS connection (as its own
NATS user), relay, consumers and gRPC server on its own port; the gateway serves HTTP on
its port and reaches the services over gRPC as before. What they share is the interpreter
(its ~70 MB of libraries, loaded once for all the parts it runs), the event loop and the
root logger. One loop, not a thread each: the tests' in-process stacks
(tests/support/services.py) run the same parts on one loop, and gRPC's asyncio API and
the module-level state of the libraries assume one loop per process.

The launcher gives each part the environment it gives that part's own process (its NATS
credentials, metrics port, auth's admin password) in `OWN_ENV`, as JSON; each part reads
its settings with its own overlaid on the process's environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import uvicorn

from gateway.__main__ import server_config
from gateway.routes import metrics as gateway_metrics
from gateway.settings import GatewaySettings
from kernel import collector, eventloop, logs, metrics, stackid
from kernel.config import SERVICES, Settings
from kernel.host import ServiceHost
from launcher.settings import OWN_ENV, PROCESS_SETTINGS

GATEWAY = "gateway"
log = logging.getLogger(__name__)
_PART: contextvars.ContextVar[str] = contextvars.ContextVar("part", default="switchboard")


@contextlib.contextmanager
def overlaid(env: dict[str, str]) -> Iterator[None]:
    """The process's environment with `env` over it, for reading one part's settings."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def part_settings(part: str, own: dict[str, dict[str, str]]) -> Settings:
    """One part's settings, read as its own process would read them."""
    with overlaid(own.get(part, {})):
        settings = PROCESS_SETTINGS[part]()
    return settings if part == GATEWAY else metrics.with_default_port(part, settings)


class PartFormatter(logs.JsonFormatter):
    """Log lines name the part they come from: by logger (services.<name>.…, gateway.…),
    else the part whose task logged them."""

    def format(self, record: logging.LogRecord) -> str:
        self.service = part_of(record.name) or _PART.get()
        return super().format(record)


def part_of(logger: str) -> str | None:
    head, _, rest = logger.partition(".")
    if head == "services" and (name := rest.partition(".")[0]) in SERVICES:
        return name
    return GATEWAY if head == GATEWAY else None


class QuietServer(uvicorn.Server):
    """uvicorn, leaving SIGINT and SIGTERM to this process's own handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _start_service(host: ServiceHost[Any]) -> None:
    _PART.set(host.service)  # this task's and every task it starts (gRPC handlers too)
    await host.start()


async def _start_all(hosts: list[ServiceHost[Any]]) -> None:
    """Start every service. The first failure cancels the other starts, and every failure
    is retrieved (one left unretrieved is logged when it is collected, after the refusal
    that `switchboard up` reports as this process's last word); another stack's streams
    (stackid.ForeignStack) are raised before any other failure."""
    try:
        async with asyncio.TaskGroup() as group:
            for host in hosts:
                group.create_task(_start_service(host))
    except BaseExceptionGroup as failed:
        foreign, _ = failed.split(stackid.ForeignStack)
        raise (foreign or failed).exceptions[0] from None


async def _serve_gateway(server: uvicorn.Server, settings: GatewaySettings) -> None:
    _PART.set(GATEWAY)
    gateway_metrics.serve_on_own_port(settings)
    await server.serve()
    if not server.should_exit:  # it stopped by itself (e.g. its port is taken)
        raise SystemExit(1)


async def run(own: dict[str, dict[str, str]], services: list[str]) -> None:
    """Start `services` and the gateway; run until SIGTERM or SIGINT, or until the
    gateway stops."""
    hosts = [ServiceHost(name, part_settings(name, own), _build(name)) for name in services]
    gateway_settings = part_settings(GATEWAY, own)
    assert isinstance(gateway_settings, GatewaySettings)
    server = QuietServer(server_config(gateway_settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await _start_all(hosts)
        collector.settle_after_start()  # the gateway's app was built with its server
        gateway = asyncio.create_task(_serve_gateway(server, gateway_settings))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([gateway, stopped], return_when=asyncio.FIRST_COMPLETED)
        log.info("switchboard stopping")
        server.should_exit = True
        await gateway
    finally:
        await asyncio.gather(*(host.stop() for host in hosts), return_exceptions=True)


def _build(service: str) -> Any:
    module = __import__(f"services.{service}.bootstrap", fromlist=["build"])
    return module.build


def main() -> None:
    services = sys.argv[1:] or list(SERVICES)
    if unknown := sorted(set(services) - set(SERVICES)):
        raise SystemExit(f"not services: {', '.join(unknown)} (they are {', '.join(SERVICES)})")
    own: dict[str, dict[str, str]] = json.loads(os.environ.pop(OWN_ENV, "{}"))
    base = Settings()
    logs.configure("switchboard", base.log_level)
    logging.getLogger().handlers[0].setFormatter(PartFormatter("switchboard"))
    try:
        eventloop.run(run(own, services))
    except stackid.ForeignStack as exc:  # `switchboard up` stops the stack on this code
        log.error("refusing to start: %s", exc.explain(base.nats_url, base.var_dir))
        raise SystemExit(stackid.EXIT_CODE) from None


if __name__ == "__main__":
    main()
