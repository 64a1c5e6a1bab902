"""The device service's parts wired over a real store (no NATS): for component tests."""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel.aggregate import Repository
from kernel.clock import utcnow
from kernel.db import create_engine
from kernel.eventstore import EventStore
from kernel.groupcommit import GroupCommit
from kernel.media import LocalMediaStore
from services.device.adapters.affinity import Affinity, affinity_metadata
from services.device.adapters.codec import device_codec
from services.device.adapters.directory import DeviceStore, directory_metadata
from services.device.adapters.leases import SoloLeases
from services.device.adapters.simulator import SimulatorTransport
from services.device.app.devices import DeviceDeps
from services.device.app.dispatch import Dispatcher
from services.device.app.far_side import FarSide
from services.device.app.inbound import InboundDeps
from services.device.app.live import LiveDevices
from services.device.app.pacing import Pacer, PacingPolicy
from services.device.app.reconnect import Backoff, Reconnects
from services.device.app.sessions import Sessions
from services.device.bootstrap import DISPATCH_CACHE
from services.device.domain.dispatch import Dispatch
from services.device.domain.inbound import ReceivedMessage

FAST_BACKOFF = Backoff(base=0.02, cap=0.05, attempts=3)


@dataclass
class Parts:
    store: EventStore
    devices: DeviceStore
    dispatches: Repository[Dispatch]
    sim: SimulatorTransport
    deps: DeviceDeps
    sessions: Sessions
    dispatcher: Dispatcher
    inbound: InboundDeps
    affinity: Affinity

    async def types(self, stream_id: str) -> list[str]:
        return [e.event_type for e in await self.store.read_stream(stream_id)]


def wire(store: EventStore, sim: SimulatorTransport,
         policy: PacingPolicy | None = None) -> Parts:
    """One replica's parts (leases in process), as bootstrap.build wires them."""
    codec = device_codec()
    devices = DeviceStore(store, codec)
    dispatches = Repository(store, codec, Dispatch, cache_size=DISPATCH_CACHE,
                            group=GroupCommit(store))
    deps = DeviceDeps(devices, sim, LiveDevices(), utcnow)
    sessions = Sessions(deps, devices, SoloLeases(), Reconnects(FAST_BACKOFF))
    affinity = Affinity(store.engine)
    inbound = InboundDeps(Repository(store, codec, ReceivedMessage), devices, affinity,
                          LocalMediaStore(Path(tempfile.mkdtemp(prefix="sb-media-"))), utcnow)
    sim.attach(FarSide(sessions, dispatches, inbound))
    dispatcher = Dispatcher(dispatches, deps.live, sim,
                            Pacer(policy or PacingPolicy(), time.monotonic), utcnow, sessions,
                            device_wait=0.1, on_pool_sent=affinity.note)
    return Parts(store, devices, dispatches, sim, deps, sessions, dispatcher, inbound,
                 affinity)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    engine = create_engine(database_url)
    store = EventStore(engine)
    await store.create_tables()
    async with engine.begin() as conn:
        await conn.run_sync(directory_metadata.create_all)
        await conn.run_sync(affinity_metadata.create_all)
    yield store
    await engine.dispose()


@pytest.fixture
async def parts(store: EventStore) -> AsyncIterator[Parts]:
    sim = SimulatorTransport(delivery_delay=0, read_delay=0)
    parts = wire(store, sim)
    yield parts
    await parts.sessions.shutdown()
    await sim.close()
