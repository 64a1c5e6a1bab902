"""The four services in this process, each on its own store, plus the gateway over ASGI.

For tests of whole capabilities through the REST APIs without starting processes. Give
it a fresh nats-server (the `fresh_nats_url` fixture): the services use their production
durable consumer names.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from gateway.__main__ import server_config
from gateway.app import create_app
from kernel.config import SERVICES
from kernel.host import ServiceHost
from launcher.natsserver import free_port
from launcher.settings import StackSettings


def _store_url(database_url: str, service: str) -> str:
    """SQLite: a file per service. PostgreSQL: one database, a schema per service."""
    if database_url.startswith("sqlite"):
        return database_url.rsplit("/", 1)[0] + f"/{service}.db"
    return database_url


def _build(service: str) -> Any:
    module = __import__(f"services.{service}.bootstrap", fromlist=["build"])
    return module.build


@asynccontextmanager
async def running_services(database_url: str, nats_url: str, var_dir: Path,
                           **overrides: Any) -> AsyncIterator[StackSettings]:
    """Start all four services; yields the settings a gateway uses to reach them."""
    addrs = {f"{name}_addr": f"127.0.0.1:{free_port()}" for name in SERVICES}
    base = {"nats_url": nats_url, "var_dir": var_dir, "sim_delivery_delay_ms": 20,
            "sim_read_delay_ms": 20, **addrs, **overrides}
    hosts = [ServiceHost(name, StackSettings(database_url=_store_url(database_url, name), **base),
                         _build(name)) for name in SERVICES]
    try:  # all at once, as `switchboard up` starts them
        started = await asyncio.gather(
            *(host.start(bind=host.settings.service_addr(host.service)) for host in hosts),
            return_exceptions=True)
        for failure in started:
            if isinstance(failure, BaseException):
                raise failure
        yield StackSettings(**base)
    finally:  # all at once: each waits up to a second for its workers' fetches
        await asyncio.gather(*(host.stop(grace=1.0) for host in hosts))


@asynccontextmanager
async def serving(config: uvicorn.Config) -> AsyncIterator[int]:
    """A real uvicorn server of `config` (port 0: a free one) until the block ends; yields
    the port it bound."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def served_gateway(settings: StackSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway as `python -m gateway` serves it (its uvicorn configuration), on a free
    port of 127.0.0.1, and a client of it."""
    config = server_config(settings.model_copy(update={"host": "127.0.0.1"}), port=0)
    async with serving(config) as port, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client


@asynccontextmanager
async def gateway_client(settings: StackSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The real gateway app, its lifespan run, reached in-process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway",
                                     timeout=30) as client:
            yield client
