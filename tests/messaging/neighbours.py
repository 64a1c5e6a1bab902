"""Test stand-ins for the services messaging calls: small real gRPC servers that behave
like billing (a balance that reserves and releases, INSUFFICIENT_CREDITS with ErrorInfo)
and device (a pool status). Not product code."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from kernel.errors import DomainError
from kernel.foreground import FOREGROUND
from kernel.rpc import build_server
from services.billing.ports.gathered import each_answered
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc
from switchboard.device.v1 import device_pb2, device_pb2_grpc


class InsufficientCredits(DomainError):
    code = "INSUFFICIENT_CREDITS"
    status = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, required: int, available: int) -> None:
        super().__init__("Not enough credits to send message. "
                         f"Required: {required}, Available: {available}",
                         required=required, available=available)


class QuotaExceeded(DomainError):
    code = "QUOTA_EXCEEDED"
    status = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self) -> None:
        super().__init__("Monthly message quota exceeded")


@dataclass
class Release:
    user_id: int
    message_ids: list[str]
    reason: str


@dataclass
class StandInBilling(billing_pb2_grpc.BillingServiceServicer):
    balances: dict[int, int] = field(default_factory=dict)
    foreground_at_reserve: list[int] = field(default_factory=list)
    reservations: dict[str, int] = field(default_factory=dict)
    releases: list[Release] = field(default_factory=list)
    quotas: dict[str, int] = field(default_factory=dict)
    quota_reservations: dict[str, str] = field(default_factory=dict)
    quota_releases: list[tuple[str, list[str]]] = field(default_factory=list)

    def _quota(self, instance_id: str) -> billing_pb2.QuotaStatus:
        used = sum(1 for i in self.quota_reservations.values() if i == instance_id)
        return billing_pb2.QuotaStatus(instance_id=instance_id,
                                       messages_remaining=self.quotas.get(instance_id, 0),
                                       messages_used=used, monthly_quota=10)

    async def ReserveQuota(self, request, context):
        new = [i for i in request.message_ids if i not in self.quota_reservations]
        available = self.quotas.get(request.instance_id, 0)
        if len(new) > available:
            raise QuotaExceeded()
        self.quotas[request.instance_id] = available - len(new)
        self.quota_reservations.update({i: request.instance_id for i in new})
        return self._quota(request.instance_id)

    async def ReserveQuotaMany(self, request, context):
        return billing_pb2.ReserveQuotaManyResponse(outcomes=await each_answered(
            self.ReserveQuota, request.requests, context, billing_pb2.QuotaOutcome))

    async def ReleaseQuota(self, request, context):
        self.quota_releases.append((request.instance_id, list(request.message_ids)))
        mine = [i for i in request.message_ids
                if self.quota_reservations.get(i) == request.instance_id]
        for message_id in mine:
            del self.quota_reservations[message_id]
        self.quotas[request.instance_id] = self.quotas.get(request.instance_id, 0) + len(mine)
        return self._quota(request.instance_id)

    async def ReserveCredits(self, request, context):
        # how many requests the process was answering (kernel/foreground.py) as it asked
        self.foreground_at_reserve.append(FOREGROUND.serving)
        new = [i for i in request.message_ids if i not in self.reservations]
        available = self.balances.get(request.user_id, 0)
        if len(new) > available:
            raise InsufficientCredits(len(new), available)
        self.balances[request.user_id] = available - len(new)
        self.reservations.update({i: request.user_id for i in new})
        return billing_pb2.ReserveCreditsResponse(
            reserved=len(new), remaining_credits=self.balances[request.user_id])

    async def ReserveCreditsMany(self, request, context):
        return billing_pb2.ReserveCreditsManyResponse(outcomes=await each_answered(
            self.ReserveCredits, request.requests, context, billing_pb2.ReserveOutcome))

    async def ReleaseCredits(self, request, context):
        self.releases.append(Release(request.user_id, list(request.message_ids),
                                     request.reason))
        mine = [i for i in request.message_ids
                if self.reservations.get(i) == request.user_id]
        for message_id in mine:
            del self.reservations[message_id]
        self.balances[request.user_id] = self.balances.get(request.user_id, 0) + len(mine)
        return billing_pb2.ReleaseCreditsResponse(
            released=len(mine), remaining_credits=self.balances[request.user_id])


@dataclass
class StandInDevice(device_pb2_grpc.DeviceServiceServicer):
    pool: device_pb2.PoolStatus = field(default_factory=lambda: device_pb2.PoolStatus(
        available_devices=2, total_devices=3, queue_depth=4, queue_type="docker"))

    connected: set[str] = field(default_factory=set)

    async def GetPoolStatus(self, request, context):
        return self.pool

    async def GetDevice(self, request, context):
        status = (device_pb2.DEVICE_STATUS_CONNECTED if request.device_id in self.connected
                  else device_pb2.DEVICE_STATUS_DISCONNECTED)
        return device_pb2.Device(device_id=request.device_id, status=status)


async def serve(servicer, add, name: str) -> tuple[grpc.aio.Server, str]:
    server, port, _health = await build_server([lambda s: add(servicer, s)], [name])
    await server.start()
    return server, f"127.0.0.1:{port}"


async def serve_billing(billing: StandInBilling) -> tuple[grpc.aio.Server, str]:
    return await serve(billing, billing_pb2_grpc.add_BillingServiceServicer_to_server,
                       "switchboard.billing.v1.BillingService")


async def serve_device(device: StandInDevice) -> tuple[grpc.aio.Server, str]:
    return await serve(device, device_pb2_grpc.add_DeviceServiceServicer_to_server,
                       "switchboard.device.v1.DeviceService")
