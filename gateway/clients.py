"""gRPC stubs for the four services, one channel each, shared by all requests."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from kernel.config import Settings
from kernel.rpc import channel
from switchboard.auth.v1 import auth_pb2_grpc
from switchboard.billing.v1 import billing_pb2_grpc
from switchboard.device.v1 import device_pb2_grpc
from switchboard.messaging.v1 import messaging_pb2_grpc


@dataclass
class Clients:
    auth: auth_pb2_grpc.AuthServiceStub
    billing: billing_pb2_grpc.BillingServiceStub
    messaging: messaging_pb2_grpc.MessagingServiceStub
    device: device_pb2_grpc.DeviceServiceStub
    channels: dict[str, grpc.aio.Channel]

    @classmethod
    def connect(cls, settings: Settings) -> Clients:
        chans = {name: channel(settings.service_addr(name), settings, identity="gateway")
                 for name in ("auth", "billing", "messaging", "device")}
        return cls(
            auth=auth_pb2_grpc.AuthServiceStub(chans["auth"]),
            billing=billing_pb2_grpc.BillingServiceStub(chans["billing"]),
            messaging=messaging_pb2_grpc.MessagingServiceStub(chans["messaging"]),
            device=device_pb2_grpc.DeviceServiceStub(chans["device"]),
            channels=chans,
        )

    async def close(self) -> None:
        for chan in self.channels.values():
            await chan.close()
