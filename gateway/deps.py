"""Request dependencies: the service clients and the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import grpc
from fastapi import Depends, Header, Request

from gateway.clients import Clients
from gateway.errors import ApiError
from switchboard.auth.v1 import auth_pb2


def get_clients(request: Request) -> Clients:
    clients: Clients = request.app.state.clients
    return clients


ServiceClients = Annotated[Clients, Depends(get_clients)]


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    is_admin: bool


async def current_user(clients: ServiceClients,
                       authorization: Annotated[str | None, Header()] = None) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError("UNAUTHORIZED", "Missing or invalid authentication token")
    try:
        found = await clients.auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token.strip()))
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise ApiError("UNAUTHORIZED", "Invalid or expired authentication token") from exc
        raise
    return Principal(found.user_id, found.username, found.is_admin)


async def admin_user(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if not user.is_admin:
        raise ApiError("FORBIDDEN", "Administrator privileges required")
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
