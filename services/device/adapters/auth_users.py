"""Asks the auth service about users and instances: whether a user is an admin (admins'
instances join the pool), and an instance this service has not heard of yet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.device.domain.commands import RegisterDevice
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc

IsAdmin = Callable[[int], Awaitable[bool]]


async def instance_registration(instance_id: str, name: str, user_id: int, number: int,
                                created_at: datetime | None,
                                is_admin: IsAdmin | None) -> RegisterDevice:
    """The device an instance has: the owner's, pooled too when the owner is an admin and
    admins' instances join the pool (`is_admin` given)."""
    pooled = await is_admin(user_id) if is_admin else False
    return RegisterDevice(instance_id, name, user_id, pooled=pooled, instance_number=number,
                          created_at=created_at)


def moment(stamp: Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if present else None


class AuthUsers:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = 5.0) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._timeout = timeout

    async def is_admin(self, user_id: int) -> bool:
        try:
            user = await self._stub.GetUser(auth_pb2.GetUserRequest(user_id=user_id),
                                            timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise
        return bool(user.is_admin and not user.disabled)


class AuthInstances:
    """The device service's InstanceSource: auth's instance, as InstanceCreated would
    have registered it."""

    def __init__(self, channel: grpc.aio.Channel, is_admin: IsAdmin | None,
                 timeout: float = 5.0) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._is_admin = is_admin
        self._timeout = timeout

    async def registration(self, device_id: str) -> RegisterDevice | None:
        try:
            found = await self._stub.GetInstance(
                auth_pb2.InstanceRef(instance_id=device_id, as_admin=True),
                timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise
        return await instance_registration(
            found.instance_id, found.instance_name, found.user_id, found.id,
            moment(found.created_at, found.HasField("created_at")), self._is_admin)
