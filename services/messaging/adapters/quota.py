"""Billing's instance quota and the device service's instance devices, as the instance
send's `Quota` and `InstanceDevices` ports.

Quota reservations of concurrent sends go together, as credit reservations do
(adapters/billing.py): `ReserveQuotaMany`, or `ReserveQuota` for one alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from kernel import context
from kernel.gathering import FreshAsks, Gatherer
from services.messaging.adapters.remote import calling, one_or_many, translated
from services.messaging.app.dependencies import QuotaUsage
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc
from switchboard.device.v1 import device_pb2, device_pb2_grpc

DEFAULT_TIMEOUT = 5.0


def _usage(reply: billing_pb2.QuotaStatus) -> QuotaUsage:
    return QuotaUsage(remaining=reply.messages_remaining, used=reply.messages_used,
                      total=reply.monthly_quota)


class QuotaClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = billing_pb2_grpc.BillingServiceStub(channel)
        self._timeout = timeout
        self._reserves: Gatherer[billing_pb2.ReserveQuotaRequest,
                                 billing_pb2.QuotaStatus] = Gatherer(self._reserve)

    @property
    def calls(self) -> int:
        """Reservation calls made, for tests and operators."""
        return self._reserves.calls

    async def reserve(self, instance_id: str, user_id: int,
                      message_ids: Sequence[str]) -> QuotaUsage:
        return _usage(await self._reserves(billing_pb2.ReserveQuotaRequest(
            instance_id=instance_id, message_ids=message_ids, user_id=user_id,
            correlation_id=context.current().correlation_id)))

    async def _reserve(self, requests: list[billing_pb2.ReserveQuotaRequest]) -> list[Any]:
        return await one_or_many("billing", self._stub.ReserveQuota,
                                 self._stub.ReserveQuotaMany,
                                 billing_pb2.ReserveQuotaManyRequest, requests, self._timeout)

    async def release(self, instance_id: str, message_ids: Sequence[str],
                      reason: str) -> None:
        request = billing_pb2.ReleaseQuotaRequest(instance_id=instance_id,
                                                  message_ids=message_ids, reason=reason)
        await calling("billing", self._stub.ReleaseQuota, request, self._timeout)


class InstanceDevicesClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = device_pb2_grpc.DeviceServiceStub(channel)
        self._timeout = timeout
        self._asks = FreshAsks()

    async def connected(self, instance_id: str) -> bool:
        """Whether the instance's device (device_id == instance_id) is connected; a device
        the device service has not heard of is not. Concurrent sends of one instance share
        the asks (`FreshAsks`), each answered by a call begun after it asked: a device
        that disconnects is refused from the next call on, as with one call per send."""
        return bool(await self._asks.ask(instance_id, lambda: self._connected(instance_id)))

    async def _connected(self, instance_id: str) -> bool:
        request = device_pb2.GetDeviceRequest(device_id=instance_id)
        try:
            reply = await self._stub.GetDevice(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise translated(exc, "device") from exc
        return bool(reply.status == device_pb2.DEVICE_STATUS_CONNECTED)

    async def last_error(self, instance_id: str) -> str:
        """What the instance's device last reported going wrong ("" if nothing, or if
        the device service cannot say now: it only adds to a refusal)."""
        request = device_pb2.GetDeviceRequest(device_id=instance_id)
        try:
            reply = await self._stub.GetDevice(request, timeout=self._timeout)
        except grpc.aio.AioRpcError:
            return ""
        return str(reply.last_error)

