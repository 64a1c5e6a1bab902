"""Whether an instance's device is connected, as the Instance API's send asks it, over
real gRPC to a stand-in device service: concurrent sends of one instance share the asks,
and an ask made after the device disconnected is told so."""

from __future__ import annotations

import asyncio

import pytest

from kernel.config import Settings
from kernel.rpc import channel
from services.messaging.adapters.quota import InstanceDevicesClient
from switchboard.device.v1 import device_pb2
from tests.messaging.neighbours import StandInDevice, serve_device


class Counting(StandInDevice):
    """Reads the device's state when a call arrives, says so, then answers 50 ms later."""

    calls: int = 0

    async def GetDevice(self, request, context):
        self.calls += 1
        status = (device_pb2.DEVICE_STATUS_CONNECTED if request.device_id in self.connected
                  else device_pb2.DEVICE_STATUS_DISCONNECTED)
        self.read.set()
        await asyncio.sleep(0.05)
        return device_pb2.Device(device_id=request.device_id, status=status)


@pytest.fixture
async def device():
    stand_in = Counting(connected={"inst-1"})
    stand_in.read = asyncio.Event()
    server, addr = await serve_device(stand_in)
    stand_in.addr = addr
    yield stand_in
    await server.stop(None)


async def test_concurrent_sends_of_one_instance_share_the_asks(device) -> None:
    async with channel(device.addr, Settings(), "messaging") as chan:
        devices = InstanceDevicesClient(chan)
        answers = await asyncio.gather(*(devices.connected("inst-1") for _ in range(20)))
        assert answers == [True] * 20
        assert device.calls == 2  # the first ask's call, then one for all that came during it
        assert await devices.connected("inst-2") is False


async def test_an_ask_after_a_disconnect_is_not_answered_by_a_call_begun_before(device) -> None:
    async with channel(device.addr, Settings(), "messaging") as chan:
        devices = InstanceDevicesClient(chan)
        device.read.clear()
        before = asyncio.ensure_future(devices.connected("inst-1"))
        await device.read.wait()  # its call has read the device as connected
        device.connected.clear()
        after = await devices.connected("inst-1")
        assert await before is True and after is False
        assert device.calls == 2
