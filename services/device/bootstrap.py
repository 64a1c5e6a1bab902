"""The device service's one composition root: `__main__` and the tests both call build()."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from kernel.aggregate import Repository
from kernel.bus import ensure_stream
from kernel.config import Settings
from kernel.host import Infra, Parts
from services.device.adapters.codec import device_codec
from services.device.adapters.directory import DeviceStore, directory_metadata
from services.device.adapters.qr import qr_png_data_url
from services.device.adapters.simulator import SimulatorTransport
from services.device.adapters.transports import transport_from
from services.device.app.devices import DeviceDeps
from services.device.app.dispatch import Dispatcher
from services.device.app.far_side import FarSide
from services.device.app.live import LiveDevices
from services.device.app.pacing import Pacer, PacingPolicy
from services.device.app.pool import ensure_pool, resume_sessions
from services.device.app.transport import Transport
from services.device.domain.dispatch import Dispatch
from services.device.ports.consumers import DISPATCH_DURABLE, SOURCE, DispatchConsumer
from services.device.ports.grpc import SERVICE_NAME, DeviceServicer


def utcnow() -> datetime:
    return datetime.now(UTC)


def pacing_policy(settings: Settings) -> PacingPolicy:
    return PacingPolicy(min_gap=settings.dispatch_min_gap_ms / 1000,
                        jitter=settings.dispatch_jitter_ms / 1000,
                        per_minute=settings.dispatch_per_minute_cap)


async def build(infra: Infra, *, dispatch_durable: str = DISPATCH_DURABLE,
                only_new: bool = False, transport: Transport | None = None) -> Parts:
    """Wire the service. Tests may name their own durable (and start it at new messages,
    as the messaging stream is shared) and hand in their own transport."""
    settings = infra.settings
    await ensure_stream(infra.js, SOURCE, settings.stream_replicas)
    codec = device_codec()
    devices = DeviceStore(infra.store, codec)
    dispatches = Repository(infra.store, codec, Dispatch)
    transport = transport or transport_from(settings)
    deps = DeviceDeps(devices, transport, LiveDevices(), utcnow)
    transport.attach(FarSide(deps, dispatches))
    dispatcher = Dispatcher(dispatches, deps.live, transport,
                            Pacer(pacing_policy(settings), time.monotonic), utcnow)
    consumer = DispatchConsumer(infra.js, dispatcher, dispatch_durable,
                                workers=settings.dispatch_workers,
                                batch=settings.dispatch_batch,
                                only_new=only_new)
    simulator = transport if isinstance(transport, SimulatorTransport) else None
    servicer = DeviceServicer(deps, devices, consumer.queue_depth, qr_png_data_url, simulator)

    async def ready() -> None:
        await consumer.ensure()
        await resume_sessions(deps, devices)
        if simulator is not None:
            await ensure_pool(deps, settings.sim_pool,
                              settings.pool_owner_user_id, simulator.scan)

    return Parts(registrars=[servicer.register], service_names=[SERVICE_NAME],
                 tables=[directory_metadata], workers=[consumer.run], on_ready=[ready],
                 on_stop=[transport.close])
