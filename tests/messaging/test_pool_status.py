"""The pool status a send reports, over real gRPC to a stand-in device service: sends
arriving together share one look-up, and the answer is kept only briefly."""

from __future__ import annotations

import asyncio

import pytest

from kernel.config import Settings
from kernel.rpc import channel
from services.messaging.adapters.devices import DevicePoolClient
from services.messaging.domain.errors import DependencyUnavailableError
from switchboard.device.v1 import device_pb2
from tests.messaging.neighbours import StandInDevice, serve_device


class Counting(StandInDevice):
    calls: int = 0

    async def GetPoolStatus(self, request, context):
        self.calls += 1
        await asyncio.sleep(0.05)
        return self.pool


@pytest.fixture
async def device():
    stand_in = Counting()
    server, addr = await serve_device(stand_in)
    stand_in.addr = addr
    yield stand_in
    await server.stop(None)


async def test_concurrent_sends_share_one_look_up_then_ask_again(device) -> None:
    now = [100.0]
    async with channel(device.addr, Settings(), "messaging") as chan:
        pool = DevicePoolClient(chan, fresh_for=0.25, clock=lambda: now[0])
        answers = await asyncio.gather(*(pool.status() for _ in range(20)))
        assert device.calls == 1 and pool.lookups == 1
        assert {(a.available_devices, a.total_devices, a.queue_depth) for a in answers} == {
            (2, 3, 4)}
        device.pool = device_pb2.PoolStatus(available_devices=3, total_devices=3,
                                            queue_depth=0, queue_type="docker")
        now[0] += 0.2
        assert (await pool.status()).available_devices == 2  # still fresh
        now[0] += 0.1
        assert (await pool.status()).available_devices == 3  # asked again
        assert device.calls == 2


async def test_a_failed_look_up_is_not_kept(device) -> None:
    async with channel(device.addr, Settings(), "messaging") as chan:
        pool = DevicePoolClient(chan, timeout=0.01)
        with pytest.raises(DependencyUnavailableError):
            await pool.status()
        pool._timeout = 5.0
        asked = device.calls  # the timed-out call may or may not have reached it
        assert (await pool.status()).total_devices == 3  # asked again, not the failure
        assert device.calls == asked + 1
