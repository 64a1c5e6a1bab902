"""The pool comes up once, and a restart takes its sessions up again without new events."""

from __future__ import annotations

from services.device.adapters.simulator import SimulatorTransport
from services.device.app.devices import register_device, request_qr
from services.device.app.pool import ensure_pool, pool_phone_number
from services.device.app.reconnect import Backoff, Reconnects
from services.device.app.transport import SessionFailed
from services.device.app.views import PoolCounts
from services.device.domain.commands import DispatchMessage, RegisterDevice, RequestQr
from services.device.domain.model import DeviceStatus
from tests.device.conftest import wire

BOOT = ["DeviceRegistered", "QrIssued", "DeviceConnected"]


async def test_pool_is_registered_linked_and_idempotent(parts):
    await ensure_pool(parts.deps, 3, 0, parts.sim.scan)
    await ensure_pool(parts.deps, 3, 0, parts.sim.scan)
    views = await parts.devices.list_devices(pooled_only=True)
    assert [(v.device_id, v.status, v.phone_number, v.owner_user_id) for v in views] == [
        (f"pool-{i}", DeviceStatus.CONNECTED, pool_phone_number(i), 0) for i in (1, 2, 3)]
    for i in (1, 2, 3):
        assert await parts.types(f"device-pool-{i}") == BOOT
    counts = await parts.devices.pool_counts("simulator")
    assert (counts.total, counts.available, counts.linked) == (3, 3, 3)
    assert await parts.devices.pool_counts("whatsmeow") == PoolCounts(0, 0, 0)
    assert parts.sessions.held == {"pool-1", "pool-2", "pool-3"}


async def test_a_restart_resumes_sessions_without_new_events(parts, store):
    await ensure_pool(parts.deps, 2, 0, parts.sim.scan)
    fresh = SimulatorTransport(delivery_delay=0, read_delay=0, far_side=parts.sim.far)
    again = wire(store, fresh)
    await again.sessions.reconcile()
    await ensure_pool(again.deps, 3, 0, fresh.scan)
    assert all(fresh.is_linked(f"pool-{i}") for i in (1, 2, 3))
    assert {d.device_id for d in again.deps.live.pooled()} == {"pool-1", "pool-2", "pool-3"}
    for i in (1, 2, 3):
        assert await parts.types(f"device-pool-{i}") == BOOT
    await again.sessions.shutdown()
    await fresh.close()


async def test_a_pool_device_half_linked_before_a_crash_is_linked_on_restart(parts, store):
    await ensure_pool(parts.deps, 1, 0, parts.sim.scan)
    await register_device(RegisterDevice("pool-2", "Pool device 2", 0, True),
                          parts.deps)
    await request_qr(RequestQr("pool-2"), parts.deps)  # crashed before the scan
    await ensure_pool(parts.deps, 2, 0, parts.sim.scan)
    # the QR issued before the crash is still fresh: it is shown again, not replaced
    assert await parts.types("device-pool-2") == BOOT


async def test_a_logged_out_pool_device_is_relinked_by_the_next_start(parts):
    await ensure_pool(parts.deps, 1, 0, parts.sim.scan)
    await parts.sim.logout_from_phone("pool-1")
    assert parts.deps.live.pooled() == []
    assert parts.sessions.held == set()
    await ensure_pool(parts.deps, 1, 0, parts.sim.scan)
    assert await parts.types("device-pool-1") == [*BOOT, "DeviceDisconnected",
                                                  "DeviceErrorRecorded", "QrIssued",
                                                  "DeviceConnected"]
    assert [d.device_id for d in parts.deps.live.pooled()] == ["pool-1"]


async def test_the_directory_rebuilt_from_the_events_equals_the_live_one(parts):
    await ensure_pool(parts.deps, 3, 0, parts.sim.scan)
    await parts.sim.logout_from_phone("pool-2", "phone offline")
    await parts.sim.ban("pool-3", "spam reports")
    await parts.dispatcher.dispatch(DispatchMessage("m-rebuild", 7, "15550009999", "hi", "pool"))

    def comparable(views):
        return [(v.device_id, v.status, v.phone_number, v.reason, v.pooled, v.session_linked,
                 v.connected_at) for v in views]

    live = comparable(await parts.devices.list_devices())
    assert await parts.devices.rebuild(page=2) == 3
    assert comparable(await parts.devices.list_devices()) == live
    assert [v[1] for v in live] == [DeviceStatus.CONNECTED, DeviceStatus.DISCONNECTED,
                                    DeviceStatus.BANNED]


async def test_linked_pool_devices_are_the_connected_and_reconnecting_ones(parts):
    """A dropped session still counts (it comes back by itself); a logged out, banned or
    given-up device does not, nor does another transport's pool."""
    await ensure_pool(parts.deps, 4, 0, parts.sim.scan)
    parts.sessions.reconnects = Reconnects(Backoff(base=30, cap=30, attempts=2))
    await parts.sim.drop("pool-1", "network down", outage=120)
    await parts.sim.logout_from_phone("pool-2")
    await parts.sim.ban("pool-3", "spam reports")
    await parts.sessions.failed(SessionFailed("pool-4", "client outdated"))
    assert await parts.devices.pool_counts("simulator") == PoolCounts(4, 0, 1)
    assert await parts.devices.pool_counts("cloud") == PoolCounts(0, 0, 0)
    await parts.sessions.reconnects.close()
