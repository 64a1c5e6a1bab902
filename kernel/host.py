"""The service host: one service's store, NATS link, relay, workers, subscriptions and
gRPC server.

Each service's composition root builds its parts from the host's infrastructure;
`__main__` and the tests start it the same way, tests on port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import grpc
from grpc_health.v1 import health_pb2
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel import bus, collector, eventloop, logs, metrics, stackid
from kernel.config import Settings
from kernel.db import create_engine, engine_for, writing
from kernel.eventstore import EventStore
from kernel.guard import edge_guard
from kernel.relay import OutboxRelay, PublicPayload
from kernel.retry import report
from kernel.rpc import Registrar, build_server
from kernel.standing import StandingSource
from kernel.subscriptions import EventSubscription, shared
from kernel.tokens import Access
from kernel.waits import Backoff

log = logging.getLogger(__name__)

Worker = Callable[[asyncio.Event], Awaitable[None]]
S = TypeVar("S", bound=Settings)  # a service's own settings class


@dataclass
class Infra(Generic[S]):
    service: str
    settings: S
    engine: AsyncEngine
    store: EventStore
    nc: NATS
    js: JetStreamContext


@dataclass
class Parts:
    """What a service's composition root hands the host to run."""

    registrars: Sequence[Registrar]
    service_names: Sequence[str]
    tables: Sequence[MetaData] = ()
    workers: Sequence[Worker] = ()
    subscriptions: Sequence[EventSubscription] = ()  # run once their source stream exists
    on_ready: Sequence[Callable[[], Awaitable[None]]] = ()
    on_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=list)
    public_payload: PublicPayload | None = None  # what the relay publishes of a payload
    standing: StandingSource | None = None  # users' standing at the gRPC edge (auth's own)
    # which methods user tokens may call (ports/access.py); none unless declared
    access: Access = field(default_factory=dict)
    # (source service, durable) of consumers no longer run, removed at start if present
    retired: Sequence[tuple[str, str]] = ()


async def open_infra(service: str, settings: S) -> Infra[S]:
    engine = await engine_for(service, settings)
    store = EventStore(engine)
    await store.create_tables()
    nc = await bus.connect_as(settings, service)
    js = nc.jetstream()
    await bus.ensure_stream(js, service, settings.stream_replicas,
                            stackid.read(settings.var_dir))
    return Infra(service, settings, engine, store, nc, js)


@contextlib.asynccontextmanager
async def setup_lock(service: str, settings: Settings) -> AsyncIterator[None]:
    """Replicas of a service that start together set up one at a time: on PostgreSQL the
    `IF NOT EXISTS` checks of their DDL race (the loser's CREATE fails), and so does their
    start-up work, so a session advisory lock per service is held meanwhile. On SQLite
    (one machine, one writer at a time) it is not needed."""
    if not settings.database_url.startswith("postgres"):
        yield
        return
    engine = create_engine(settings.database_url)
    key = {"key": f"switchboard:{service}:setup"}
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(hashtext(:key))"), key)
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), key)
    finally:
        await engine.dispose()


class ServiceHost(Generic[S]):
    def __init__(self, service: str, settings: S,
                 build: Callable[[Infra[S]], Awaitable[Parts]]) -> None:
        self.service = service
        self.settings = settings
        self.build = build
        self.stop_event = asyncio.Event()
        self.port = 0
        self.infra: Infra[S] | None = None
        self.relay: OutboxRelay | None = None
        self._server: grpc.aio.Server | None = None
        self._health = None
        self._tasks: list[asyncio.Task[None]] = []
        self._parts: Parts | None = None
        self.metrics: metrics.HostMetrics | None = None  # operations: /metrics, if on

    async def start(self, bind: str | None = None) -> int:
        bind = bind or f"{self.settings.host}:{self.settings.service_port(self.service)}"
        # Replicas of a service set up one at a time: tables, then their on_ready work
        # (e.g. bringing up the simulator's pool, which two replicas would both link).
        async with setup_lock(self.service, self.settings):
            infra = self.infra = await open_infra(self.service, self.settings)
            parts = self._parts = await self.build(infra)
            for meta in parts.tables:
                async with writing(infra.engine) as conn:
                    await conn.run_sync(meta.create_all)
            self.relay = OutboxRelay(infra.store, infra.js, self.service,
                                     self.settings.relay_batch,
                                     public_payload=parts.public_payload)
            guard, closers = await edge_guard(self.settings, infra.js, self.service,
                                              parts.access, parts.standing)
            parts.on_stop = [*parts.on_stop, *closers]
            self._server, self.port, self._health = await build_server(
                parts.registrars, parts.service_names, bind, guard)
            await self._server.start()
            subscriptions, taken_over = shared(parts.subscriptions)
            consumers = [s.consumer(infra.js) for s in subscriptions]
            for consumer in consumers:  # a consumer of new messages counts from here
                await consumer.prepare()
            for source, durable in parts.retired:
                await bus.remove_consumer(infra.js, source, durable)
            for ready in parts.on_ready:
                await ready()
        workers = [self.relay.run, *parts.workers, *(c.run for c in consumers),
                   *(_once(s.consumer(infra.js).retire) for s in taken_over)]
        # operations: /metrics over HTTP and the sampler behind it, when a port is set
        self.metrics = metrics.HostMetrics.start(infra, self.relay)
        if self.metrics is not None:
            workers.append(self.metrics.run)
        self._tasks = [asyncio.create_task(self._supervise(w)) for w in workers]
        log.info("%s listening on %s (grpc port %d)", self.service, bind, self.port)
        return self.port

    async def _supervise(self, worker: Worker) -> None:
        """Run `worker` until stopped, restarting it after a crash (with backoff, so a
        worker failing on an unavailable store waits for it rather than spinning)."""
        backoff = Backoff()
        while not self.stop_event.is_set():
            started = asyncio.get_running_loop().time()
            try:
                await worker(self.stop_event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if asyncio.get_running_loop().time() - started > 60:
                    backoff.reset()
                name = getattr(worker, "__qualname__", "worker")
                report(log, f"{self.service}: worker {name} (restarting it)", exc)
                await backoff.pause(self.stop_event)

    async def stop(self, grace: float = 3.0) -> None:
        self.stop_event.set()
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(grace)
        # Workers see the stop event and finish their batch; only stragglers are
        # cancelled (a query cancelled mid-flight can hold its connection's close).
        if self._tasks:
            _, stragglers = await asyncio.wait(self._tasks, timeout=max(grace, 2.0))
            for task in stragglers:
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.metrics is not None:
            await self.metrics.close()
        if self._parts is not None:
            for hook in self._parts.on_stop:
                await hook()
        if self.infra is not None:
            with contextlib.suppress(Exception):
                await self.infra.nc.drain()
            await self.infra.engine.dispose()

    async def serve_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        await self.start()
        collector.settle_after_start()
        await self.stop_event.wait()
        log.info("%s stopping", self.service)
        await self.stop()


def main(service: str, settings_class: type[S],
         build: Callable[[Infra[S]], Awaitable[Parts]]) -> None:
    """Run a service as its own process, on the settings of its own class."""
    settings = metrics.with_default_port(service, settings_class())  # operations
    logs.configure(service, settings.log_level)
    try:
        eventloop.run(ServiceHost(service, settings, build).serve_forever())
    except stackid.ForeignStack as exc:  # `switchboard up` stops the stack on this code
        log.error("refusing to start: %s", exc.explain(settings.nats_url, settings.var_dir))
        raise SystemExit(stackid.EXIT_CODE) from None


SERVING = health_pb2.HealthCheckResponse.SERVING


def _once(work: Worker) -> Worker:
    """A worker done once it returns (the host runs workers again when they end)."""
    async def once(stop: asyncio.Event) -> None:
        await work(stop)
        await stop.wait()

    once.__qualname__ = getattr(work, "__qualname__", "once")
    return once
