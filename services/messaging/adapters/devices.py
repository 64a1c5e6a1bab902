"""The device service, as the handlers' `DevicePool` port."""

from __future__ import annotations

import grpc

from services.messaging.adapters.remote import calling
from services.messaging.app.dependencies import PoolStatus
from switchboard.device.v1 import device_pb2, device_pb2_grpc

DEFAULT_TIMEOUT = 5.0


class DevicePoolClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = device_pb2_grpc.DeviceServiceStub(channel)
        self._timeout = timeout

    async def status(self) -> PoolStatus:
        reply = await calling("device", self._stub.GetPoolStatus,
                              device_pb2.GetPoolStatusRequest(), self._timeout)
        return PoolStatus(available_devices=reply.available_devices,
                          total_devices=reply.total_devices,
                          queue_depth=reply.queue_depth, queue_type=reply.queue_type)
