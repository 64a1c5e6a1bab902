"""Instances come from auth's events: InstanceCreated registers the instance's device,
InstanceDeleted retires it (and logs its session out). A stand-in auth store relays the
events into the real SB_AUTH stream, created after the device service started."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime

import grpc
import pytest

from kernel import bus
from kernel.db import create_engine
from kernel.errors import from_rpc_error
from kernel.eventstore import EventStore, NewEvent
from kernel.relay import OutboxRelay
from switchboard.auth.v1 import events_pb2 as auth_events
from switchboard.device.v1 import device_pb2
from tests.device.service_support import device_service, device_settings, eventually, stub

CREATED_AT = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def auth_stand_in(nats_url, tmp_path, service):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}")
    store = EventStore(engine)
    await store.create_tables()
    js = service.infra.nc.jetstream()
    await bus.ensure_stream(js, "auth")
    relay = OutboxRelay(store, js, "auth")

    async def emit(stream: str, event) -> None:
        version = len(await store.read_stream(stream))
        await store.append(stream, version, [NewEvent(type(event).__name__,
                                                      event.SerializeToString())])
        await relay.publish_pending()

    yield emit
    await engine.dispose()


async def test_instances_are_registered_and_retired_from_auth_events(
        database_url, fresh_nats_url, tmp_path, unique):
    settings = device_settings(database_url, fresh_nats_url, tmp_path, sim_pool=0)
    instance_id = f"abc{unique}"
    async with device_service(settings, f"dispatch-{unique}") as host, stub(host) as api, \
            auth_stand_in(fresh_nats_url, tmp_path, host) as emit:
        created = auth_events.InstanceCreated(instance_id=instance_id, id=42, user_id=7,
                                              instance_name="Main WhatsApp")
        created.created_at.FromDatetime(CREATED_AT)
        await emit(f"instance-{instance_id}", created)
        await emit(f"instance-{instance_id}", created)  # a redelivery changes nothing

        async def registered():
            listed = await api.ListDevices(device_pb2.ListDevicesRequest(owner_user_id=7))
            return listed.devices[0] if listed.devices else None

        device = await eventually(registered, within=10)
        assert device, "InstanceCreated was not consumed"
        assert (device.device_id, device.name, device.instance_number, device.pooled,
                device.status) == (instance_id, "Main WhatsApp", 42, False,
                                   device_pb2.DEVICE_STATUS_DISCONNECTED)
        assert device.created_at.ToDatetime(tzinfo=UTC) == CREATED_AT
        qr = await api.RequestQrCode(device_pb2.RequestQrCodeRequest(device_id=instance_id))
        await api.SimulateScan(device_pb2.SimulateScanRequest(pairing_ref=qr.pairing_ref,
                                                              phone_number="15550001111"))
        await emit(f"instance-{instance_id}",
                   auth_events.InstanceDeleted(instance_id=instance_id, user_id=7))

        async def retired():
            listed = await api.ListDevices(device_pb2.ListDevicesRequest(owner_user_id=7))
            return not listed.devices

        assert await eventually(retired, within=10)
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await api.GetDevice(device_pb2.GetDeviceRequest(device_id=instance_id))
        assert from_rpc_error(gone.value).reason == "DEVICE_NOT_FOUND"
        types = [e.event_type for e in await host.infra.store.read_stream(
            f"device-{instance_id}")]
        assert types == ["DeviceRegistered", "QrIssued", "DeviceConnected", "DeviceRetired"]
