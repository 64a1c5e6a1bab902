"""Prometheus metrics every service exposes, and the hook services add their own with.

- gRPC: calls and latencies by method and status code, recorded by kernel.rpc's interceptor;
- outbox relay: events published, and events committed but not yet published (lag);
- JetStream consumers reading this service's stream: pending (lag), awaiting ack,
  redelivered, and processed (acked) counts, sampled from the broker's consumer info;
- service gauges (queue depth, messages by status, device states): `register_gauge`.

`HostMetrics` serves /metrics over HTTP and samples on a beat; ServiceHost starts it when
the process has a metrics port (`SWITCHBOARD_METRICS_PORT`, or the service's default port
below when it runs as a process; 0 = off).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import grpc
from prometheus_client import (
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kernel.config import Settings
from kernel.subjects import stream_name
from kernel.waits import waited

if TYPE_CHECKING:  # the gateway records gRPC calls here and needs no store nor broker
    from nats.js import JetStreamContext

    from kernel.eventstore import EventStore
    from kernel.relay import OutboxRelay

log = logging.getLogger(__name__)
SettingsT = TypeVar("SettingsT", bound=Settings)

DEFAULT_METRICS_PORTS = {"auth": 9151, "billing": 9152, "messaging": 9153, "device": 9154}
disable_created_metrics()  # no `_created` twin of every counter and histogram
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

GRPC_REQUESTS = Counter("switchboard_grpc_server_requests",
                        "gRPC calls handled, by full method name and status code",
                        ["method", "code"])
GRPC_LATENCY = Histogram("switchboard_grpc_server_request_duration_seconds",
                         "Time to handle a gRPC call, by method and status code",
                         ["method", "code"], buckets=LATENCY_BUCKETS)
SAMPLE_ERRORS = Counter("switchboard_metrics_sample_errors",
                        "Sampling passes that failed (broker or store unreachable)",
                        ["service"])

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
GaugeReader = Callable[[], Awaitable[Mapping[tuple[str, ...], float]]]


# --- gRPC ---------------------------------------------------------------------------

def timed_rpc(method: str, handler: Handler) -> Handler:
    """`handler`, counting each call and its latency under the status it ended with."""

    async def timed(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        code = "UNKNOWN"
        try:
            reply = await handler(request, ctx)
            code = _code_name(ctx, grpc.StatusCode.OK)
            return reply
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except BaseException:
            code = _code_name(ctx, grpc.StatusCode.UNKNOWN)
            raise
        finally:
            GRPC_REQUESTS.labels(method, code).inc()
            GRPC_LATENCY.labels(method, code).observe(time.perf_counter() - started)

    return timed


def _code_name(ctx: grpc.aio.ServicerContext, default: grpc.StatusCode) -> str:
    code = ctx.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return default.name if code in (None, 0) else str(code)


# --- service gauges -----------------------------------------------------------------

@dataclass
class _ServiceGauge:
    documentation: str
    labelnames: tuple[str, ...]
    read: GaugeReader
    values: Mapping[tuple[str, ...], float] = field(default_factory=dict)


_GAUGES: dict[str, _ServiceGauge] = {}


def register_gauge(name: str, documentation: str, labelnames: Sequence[str],
                   read: GaugeReader) -> None:
    """A service gauge sampled on the kernel's beat: `read()` returns {label values: value},
    e.g. {("queued",): 12.0, ("sent",): 40.0}. Registering a name again replaces its
    reader (a composition root may run more than once in one process)."""
    _GAUGES[name] = _ServiceGauge(documentation, tuple(labelnames), read)


def unregister_gauge(name: str) -> None:
    _GAUGES.pop(name, None)


async def _sample_gauges(service: str) -> None:
    """Each reader on its own: one that fails keeps its last values, the others go on."""
    for name, gauge in list(_GAUGES.items()):
        try:
            gauge.values = dict(await gauge.read())
        except Exception as exc:
            SAMPLE_ERRORS.labels(service).inc()
            log.warning("%s: metrics gauge %s failed: %s", service, name, exc)


# --- relay and consumers, sampled ---------------------------------------------------

@dataclass(frozen=True)
class ConsumerSample:
    stream: str
    consumer: str
    pending: int
    ack_pending: int
    redelivered: int
    processed: int


class Sampled(Protocol):
    """What the sampler reads of a service process (kernel.host's `Infra`)."""

    @property
    def service(self) -> str: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> EventStore: ...
    @property
    def js(self) -> JetStreamContext: ...


class HostMetrics:
    """One service process's /metrics endpoint and the sampler behind it."""

    def __init__(self, infra: Sampled, relay: OutboxRelay, interval: float) -> None:
        self.infra = infra
        self.relay = relay
        self.interval = interval
        self.relay_lag = 0
        self.consumers: tuple[ConsumerSample, ...] = ()
        self.port = 0
        self._server: Any = None

    @classmethod
    def start(cls, infra: Sampled, relay: OutboxRelay) -> HostMetrics | None:
        """Serve /metrics on the settings' metrics port; None when it is off or taken
        (the service keeps running: Prometheus shows the target down). Services in one
        process (launcher/single.py) given one port share its server: the process has one
        registry, each series once."""
        settings = infra.settings
        if not settings.metrics_port:
            return None
        metrics = cls(infra, relay, settings.metrics_sample_seconds)
        try:
            metrics._server = _COLLECTOR.server_on(settings.metrics_port) or \
                start_http_server(settings.metrics_port, settings.host)[0]
        except OSError as exc:
            log.warning("%s: metrics port %d unavailable: %s", infra.service,
                        settings.metrics_port, exc)
            return None
        metrics.port = int(metrics._server.server_port)
        _COLLECTOR.hosts.append(metrics)
        return metrics

    async def run(self, stop: asyncio.Event) -> None:
        """Sample now and every `interval` seconds until told to stop."""
        while not stop.is_set():
            await self.sample()
            await waited(stop, seconds=self.interval)

    async def sample(self) -> None:
        try:
            await asyncio.wait_for(self._sample(), timeout=max(self.interval, 5.0))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            SAMPLE_ERRORS.labels(self.infra.service).inc()
            log.warning("%s: metrics sampling failed: %s", self.infra.service, exc)

    async def _sample(self) -> None:
        from sqlalchemy import func, select

        from kernel.db import reading
        from kernel.tables import events_table

        position = await self.relay.position()
        async with reading(self.infra.store.engine) as conn:
            self.relay_lag = int((await conn.execute(
                select(func.count()).select_from(events_table)
                .where(events_table.c.position > position))).scalar_one())
        stream = stream_name(self.infra.service)
        infos = await self.infra.js.consumers_info(stream)
        self.consumers = tuple(
            ConsumerSample(stream, i.name, i.num_pending or 0, i.num_ack_pending or 0,
                           i.num_redelivered or 0, i.ack_floor.consumer_seq if i.ack_floor else 0)
            for i in infos if i.config.durable_name)
        await _sample_gauges(self.infra.service)

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            _COLLECTOR.hosts.remove(self)
        if self._server is not None and _COLLECTOR.server_on(self.port) is None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()


def with_default_port(service: str, settings: SettingsT) -> SettingsT:
    """A process's settings: an unset metrics port becomes the service's default port."""
    if settings.metrics_port is not None:
        return settings
    return settings.model_copy(update={"metrics_port": DEFAULT_METRICS_PORTS.get(service, 0)})


class _KernelCollector(Collector):
    """Reads the running hosts' relays and last samples at scrape time."""

    def __init__(self) -> None:
        self.hosts: list[HostMetrics] = []

    def server_on(self, port: int) -> Any:
        """The /metrics server a running host of this process serves on `port`, if any."""
        return next((h._server for h in self.hosts if h.port == port), None)

    def collect(self) -> Iterator[Metric]:
        hosts = list(self.hosts)
        published = CounterMetricFamily("switchboard_relay_published",
                                        "Events the outbox relay published", labels=["service"])
        lag = GaugeMetricFamily("switchboard_relay_lag_events",
                                "Events committed but not yet published", labels=["service"])
        for host in hosts:
            published.add_metric([host.infra.service], host.relay.published)
            lag.add_metric([host.infra.service], host.relay_lag)
        yield published
        yield lag
        yield from _consumer_families([c for h in hosts for c in h.consumers])
        for name, gauge in list(_GAUGES.items()):
            family = GaugeMetricFamily(name, gauge.documentation, labels=gauge.labelnames)
            for labels, value in gauge.values.items():
                family.add_metric(list(labels), value)
            yield family


def _consumer_families(samples: Sequence[ConsumerSample]) -> Iterator[Metric]:
    labels = ["stream", "consumer"]
    pending = GaugeMetricFamily("switchboard_consumer_pending_messages",
                                "Messages not yet delivered to the consumer (its lag)",
                                labels=labels)
    acks = GaugeMetricFamily("switchboard_consumer_ack_pending_messages",
                             "Messages delivered and not yet acked", labels=labels)
    redelivered = GaugeMetricFamily("switchboard_consumer_redelivered_messages",
                                    "Messages delivered more than once, not yet acked",
                                    labels=labels)
    processed = CounterMetricFamily("switchboard_consumer_processed",
                                    "Deliveries acked (the consumer's ack floor)", labels=labels)
    for s in samples:
        key = [s.stream, s.consumer]
        pending.add_metric(key, s.pending)
        acks.add_metric(key, s.ack_pending)
        redelivered.add_metric(key, s.redelivered)
        processed.add_metric(key, s.processed)
    yield from (pending, acks, redelivered, processed)


_COLLECTOR = _KernelCollector()
REGISTRY.register(_COLLECTOR)
