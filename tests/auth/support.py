"""Small helpers for calling the auth service in tests."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from kernel.errors import RemoteError, from_rpc_error
from switchboard.auth.v1 import auth_pb2

PASSWORD = "correct horse battery"


async def failure(call: Any) -> RemoteError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return from_rpc_error(caught.value)


async def new_user(stub: Any, username: str) -> int:
    created = await stub.Register(auth_pb2.RegisterRequest(username=username,
                                                           password=PASSWORD))
    return int(created.user_id)


def create(stub: Any, user_id: int, name: str = "Main WhatsApp") -> Any:
    return stub.CreateInstance(auth_pb2.CreateInstanceRequest(user_id=user_id,
                                                              instance_name=name))


def authenticate(stub: Any, public_key: str, secret_key: str) -> Any:
    return stub.AuthenticateInstance(auth_pb2.AuthenticateInstanceRequest(
        public_key=public_key, secret_key=secret_key))


def ref(user_id: int, instance_id: str, as_admin: bool = False) -> auth_pb2.InstanceRef:
    return auth_pb2.InstanceRef(user_id=user_id, instance_id=instance_id, as_admin=as_admin)
