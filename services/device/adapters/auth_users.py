"""Asks the auth service whether a user is an admin (admins' instances join the pool)."""

from __future__ import annotations

import grpc

from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc


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
