"""The device service as it runs: ServiceHost + build(), real NATS, SQLite and PostgreSQL.

MessageQueued events go into the real SB_MESSAGING stream; each test names its own
durable consumer (starting at new messages) so tests sharing the server never take
each other's messages.
"""

from __future__ import annotations

import asyncio
import functools
import time

import grpc
import pytest

from kernel.errors import from_rpc_error
from kernel.host import ServiceHost
from kernel.media_store import media_store
from services.device.adapters.transports import simulator_from
from services.device.bootstrap import build
from switchboard.device.v1 import device_pb2, events_pb2
from tests.device.service_support import (
    LIFECYCLE,
    device_service,
    device_settings,
    eventually,
    messaging,
    stream_types,
    stub,
)

BOOT = ["DeviceRegistered", "QrIssued", "DeviceConnected"]
CONNECTED = device_pb2.DEVICE_STATUS_CONNECTED


def number(unique: str, n: int = 0) -> str:
    return f"4477{int(unique, 16) % 10**6:06d}{n:02d}"


async def lifecycle_of(host, message_id: str) -> list[str]:
    async def done():
        types = await stream_types(host, f"dispatch-{message_id}")
        return types if types[-1:] in (["MessageRead"], ["MessageFailed"]) else None

    return await eventually(done) or await stream_types(host, f"dispatch-{message_id}")


async def test_queued_messages_are_sent_delivered_and_read(database_url, nats_url, tmp_path,
                                                           unique):
    settings = device_settings(database_url, nats_url, tmp_path)
    async with messaging(nats_url, tmp_path) as msg, \
            device_service(settings, f"dispatch-{unique}") as host, stub(host) as api:
        reads: list[str] = []

        async def on_read(m):
            reads.append(events_pb2.MessageRead.FromString(m.data).message_id)

        sub = await msg.nc.subscribe("sb.device.MessageRead", cb=on_read)
        ids = [f"{unique}-{n}" for n in range(3)]
        for n, message_id in enumerate(ids):
            await msg.queue(message_id, number(unique, n))
        for message_id in ids:
            assert await lifecycle_of(host, message_id) == LIFECYCLE
        assert await eventually(lambda: asyncio.sleep(0, set(ids) <= set(reads)))
        await sub.unsubscribe()
        for n, message_id in enumerate(ids):
            inbox = await api.GetSimulatorInbox(
                device_pb2.GetSimulatorInboxRequest(phone_number=number(unique, n)))
            assert [(m.transport_message_id, m.body) for m in inbox.messages] == [
                (f"sb-{message_id}", f"hi {message_id}")]
        status = await api.GetPoolStatus(device_pb2.GetPoolStatusRequest())
        assert (status.available_devices, status.total_devices, status.queue_depth,
                status.queue_type) == (3, 3, 0, "pool")


async def test_a_message_queued_twice_reaches_the_recipient_once(database_url, nats_url,
                                                                 tmp_path, unique):
    settings = device_settings(database_url, nats_url, tmp_path)
    async with messaging(nats_url, tmp_path) as msg, \
            device_service(settings, f"dispatch-{unique}") as host, stub(host) as api:
        event = await msg.queue(unique, number(unique))
        await msg.redeliver(event)
        await msg.queue(unique, number(unique))  # a second MessageQueued for the same id
        assert await lifecycle_of(host, unique) == LIFECYCLE
        await asyncio.sleep(0.3)  # room for the duplicates to be handled
        assert await stream_types(host, f"dispatch-{unique}") == LIFECYCLE
        inbox = await api.GetSimulatorInbox(
            device_pb2.GetSimulatorInboxRequest(phone_number=number(unique)))
        assert len(inbox.messages) == 1
        status = await api.GetPoolStatus(device_pb2.GetPoolStatusRequest())
        assert status.queue_depth == 0


async def test_queue_depth_counts_messages_waiting_for_a_device(database_url, nats_url,
                                                                tmp_path, unique):
    settings = device_settings(database_url, nats_url, tmp_path)
    sim = simulator_from(settings, media_store(settings))
    async with messaging(nats_url, tmp_path) as msg, \
            device_service(settings, f"dispatch-{unique}", sim) as host, stub(host) as api:
        for i in (1, 2, 3):
            await sim.logout_from_phone(f"pool-{i}", "phone offline")
        for n in range(2):
            await msg.queue(f"{unique}-{n}", number(unique, n))

        async def waiting():
            status = await api.GetPoolStatus(device_pb2.GetPoolStatusRequest())
            return status if status.queue_depth == 2 else None

        status = await eventually(waiting)
        assert status and (status.available_devices, status.total_devices) == (0, 3)
        qr = await api.RequestQrCode(device_pb2.RequestQrCodeRequest(device_id="pool-2"))
        assert qr.qr_png_data_url.startswith("data:image/png;base64,")
        assert 0 < qr.expires_in_seconds <= 60
        linked = await api.SimulateScan(device_pb2.SimulateScanRequest(
            pairing_ref=qr.pairing_ref, phone_number="15550000002"))
        assert linked.status == CONNECTED
        for n in range(2):
            assert await lifecycle_of(host, f"{unique}-{n}") == LIFECYCLE

        async def drained():  # the acks follow the sends
            status = await api.GetPoolStatus(device_pb2.GetPoolStatusRequest())
            return status if status.queue_depth == 0 else None

        status = await eventually(drained)
        assert status and status.available_devices == 1


async def test_a_restart_keeps_the_pool_connected_without_duplicates(database_url, nats_url,
                                                                     tmp_path, unique):
    settings = device_settings(database_url, nats_url, tmp_path)
    async with device_service(settings, f"dispatch-{unique}"):
        pass
    async with messaging(nats_url, tmp_path) as msg, \
            device_service(settings, f"dispatch-{unique}") as host, stub(host) as api:
        listed = await api.ListDevices(device_pb2.ListDevicesRequest(pooled_only=True))
        assert [(d.device_id, d.status, d.phone_number) for d in listed.devices] == [
            (f"pool-{i}", CONNECTED, f"1555{i:07d}") for i in (1, 2, 3)]
        for i in (1, 2, 3):
            assert await stream_types(host, f"device-pool-{i}") == BOOT
        await msg.queue(unique, number(unique))
        assert await lifecycle_of(host, unique) == LIFECYCLE
        status = await api.GetPoolStatus(device_pb2.GetPoolStatusRequest())
        assert (status.available_devices, status.total_devices) == (3, 3)


async def test_an_instance_links_by_qr_and_sends_its_own_messages(database_url, nats_url,
                                                                  tmp_path, unique):
    settings = device_settings(database_url, nats_url, tmp_path, sim_pool=0)
    async with messaging(nats_url, tmp_path) as msg, \
            device_service(settings, f"dispatch-{unique}") as host, stub(host) as api:
        device = await api.RegisterDevice(device_pb2.RegisterDeviceRequest(
            device_id=f"inst-{unique}", name="Shop", owner_user_id=7))
        assert device.status == device_pb2.DEVICE_STATUS_DISCONNECTED
        qr = await api.RequestQrCode(device_pb2.RequestQrCodeRequest(device_id=device.device_id))
        await api.SimulateScan(device_pb2.SimulateScanRequest(pairing_ref=qr.pairing_ref,
                                                              phone_number="+1 555 777 0001"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await api.RequestQrCode(device_pb2.RequestQrCodeRequest(
                device_id=device.device_id))
        error = from_rpc_error(refused.value)
        assert (error.status, error.reason) == (grpc.StatusCode.ALREADY_EXISTS,
                                                "ALREADY_CONNECTED")
        await msg.queue(f"{unique}-a", number(unique), "instance", device.device_id)
        await msg.queue(f"{unique}-b", number(unique), "instance", f"gone-{unique}")
        assert await lifecycle_of(host, f"{unique}-a") == LIFECYCLE
        assert await lifecycle_of(host, f"{unique}-b") == ["MessageFailed"]
        inbox = await api.GetSimulatorInbox(
            device_pb2.GetSimulatorInboxRequest(phone_number=number(unique)))
        assert [(m.device_id, m.from_number) for m in inbox.messages] == [
            (device.device_id, "15557770001")]
        mine = await api.ListDevices(device_pb2.ListDevicesRequest(owner_user_id=7))
        assert [d.device_id for d in mine.devices] == [device.device_id]
        status = await api.GetPoolStatus(device_pb2.GetPoolStatusRequest())
        assert (status.available_devices, status.total_devices) == (0, 0)


async def test_stop_is_prompt_after_the_workers_have_polled(nats_url, tmp_path, unique):
    """Pull subscriptions are given up on stop, so draining NATS does not hang (30 s)."""
    settings = device_settings(f"sqlite+aiosqlite:///{tmp_path / 'device.db'}", nats_url,
                               tmp_path)
    host = ServiceHost("device", settings, functools.partial(
        build, dispatch_durable=f"dispatch-{unique}", instances_durable=f"inst-{unique}",
        only_new=True))
    await host.start("127.0.0.1:0")
    await asyncio.sleep(2.5)  # every worker has fetched, and timed out, at least twice
    started = time.monotonic()
    await host.stop(grace=0.5)
    assert time.monotonic() - started < 5
