"""Request dependencies: the service clients and the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import grpc
from fastapi import Depends, Header, Query, Request

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


@dataclass(frozen=True)
class InstancePrincipal:
    """The instance whose key pair signed an Instance API call."""

    instance_id: str
    id: int
    user_id: int
    instance_name: str


async def instance_caller(
    clients: ServiceClients,
    public_key: Annotated[str | None, Query(alias="publicKey", max_length=200)] = None,
    secret_key: Annotated[str | None, Query(alias="secretKey", max_length=200)] = None,
    x_public_key: Annotated[str | None, Header(max_length=200)] = None,
    x_secret_key: Annotated[str | None, Header(max_length=200)] = None,
) -> InstancePrincipal:
    """Instance API auth: `publicKey`/`secretKey` query parameters, as documented, or the
    same pair in `X-Public-Key`/`X-Secret-Key` headers (kept out of URLs and logs)."""
    public = x_public_key or public_key
    secret = x_secret_key or secret_key
    if not public or not secret:
        raise ApiError("INVALID_CREDENTIALS", "Invalid or revoked API credentials")
    try:
        found = await clients.auth.AuthenticateInstance(
            auth_pb2.AuthenticateInstanceRequest(public_key=public, secret_key=secret))
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND,
                          grpc.StatusCode.PERMISSION_DENIED):
            raise ApiError("INVALID_CREDENTIALS", "Invalid or revoked API credentials") from exc
        raise
    return InstancePrincipal(found.instance_id, found.id, found.user_id, found.instance_name)


InstanceCaller = Annotated[InstancePrincipal, Depends(instance_caller)]
