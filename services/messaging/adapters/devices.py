"""The device service, as the handlers' `DevicePool` port.

The pool's figures in a send's reply (queue position, devices available) are
informative, so concurrent sends share one look-up and its answer is kept for
`fresh_for` seconds: under load that is one call to the device service (and one queue
look-up there) for many sends instead of one each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc

from services.messaging.adapters.remote import calling
from services.messaging.app.dependencies import PoolStatus
from switchboard.device.v1 import device_pb2, device_pb2_grpc

DEFAULT_TIMEOUT = 5.0
FRESH_FOR = 0.25


class DevicePoolClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT,
                 fresh_for: float = FRESH_FOR,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stub = device_pb2_grpc.DeviceServiceStub(channel)
        self._timeout = timeout
        self._fresh_for = fresh_for
        self._clock = clock
        self._known: tuple[float, PoolStatus] | None = None
        self._looking: asyncio.Task[PoolStatus] | None = None
        self.lookups = 0  # calls made to the device service

    async def status(self) -> PoolStatus:
        if self._known is not None and self._clock() - self._known[0] < self._fresh_for:
            return self._known[1]
        if self._looking is None or self._looking.done():
            self._looking = asyncio.create_task(self._look_up())
        # Shared: one caller going away does not cancel the others' look-up.
        return await asyncio.shield(self._looking)

    async def _look_up(self) -> PoolStatus:
        self.lookups += 1
        asked_at = self._clock()
        reply = await calling("device", self._stub.GetPoolStatus,
                              device_pb2.GetPoolStatusRequest(), self._timeout)
        status = PoolStatus(available_devices=reply.available_devices,
                            total_devices=reply.total_devices,
                            queue_depth=reply.queue_depth, queue_type=reply.queue_type,
                            linked_devices=reply.linked_devices, transport=reply.transport)
        self._known = (asked_at, status)
        return status
