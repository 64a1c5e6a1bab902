"""Request dependencies: the service clients, the signed-in user, the calling instance,
and the rate limit of each route class (gateway/ratelimit.py).

Every route that takes `CurrentUser` is limited per user, and every route that takes
`InstanceCaller` per instance, in its route class (single sends, bulk sends, status
checks, other writes); sign-in routes take `AddressLimit`, per client address.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Annotated

import grpc
from fastapi import Depends, Header, Query, Request, Response

from gateway.clients import Clients
from gateway.errors import ApiError
from gateway.ratelimit import enforce, limiter_of, route_class
from gateway.settings import GatewaySettings, IPNetwork
from kernel.errors import UnauthorizedError
from kernel.gathering import FreshAsks
from kernel.tokens import Caller, KeyRing, TokenVerifier
from switchboard.auth.v1 import auth_pb2


async def get_clients(request: Request) -> Clients:
    """Async, as every dependency here: FastAPI runs a plain `def` in a worker thread."""
    clients: Clients = request.app.state.clients
    return clients


ServiceClients = Annotated[Clients, Depends(get_clients)]


async def limit(request: Request, response: Response, route: str, subject: str) -> None:
    """Count this request against `subject`'s budget in `route`; 429 when it is spent."""
    verdict = await enforce(limiter_of(request), route, subject)
    if verdict is not None:
        response.headers.update(verdict.headers())


def client_address(request: Request) -> str:
    """The peer address; behind a trusted proxy (`trusted_proxies`), the address that
    proxy saw (X-Forwarded-For), never a value a client chose itself."""
    peer = request.client.host if request.client else ""
    settings: GatewaySettings = request.app.state.settings
    trusted = settings.trusted_networks()
    if not trusted or not _within(peer, trusted):
        return peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    return forwarded_client(peer, forwarded, trusted)


def forwarded_client(peer: str, forwarded: str, trusted: list[IPNetwork]) -> str:
    """The right-most address of the chain (X-Forwarded-For, then the peer) that is not a
    trusted proxy: each proxy appends the address it saw, so what lies left of the last
    trusted hop is whatever the client sent."""
    hops = [peer, *reversed([h.strip() for h in forwarded.split(",") if h.strip()])]
    for hop in hops:
        if not _within(hop, trusted):
            return hop
    return hops[-1]


def _within(address: str, networks: list[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in networks)


async def address_limit(request: Request, response: Response) -> None:
    digest = hashlib.sha256(client_address(request).encode()).hexdigest()[:24]
    await limit(request, response, "auth", f"a{digest}")


AddressLimit = Depends(address_limit)


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    is_admin: bool


def _tokens(request: Request) -> TokenVerifier:
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        verifier = TokenVerifier(KeyRing.from_settings(request.app.state.settings))
        request.app.state.token_verifier = verifier
    return verifier


def _signed_user(request: Request, token: str) -> int:
    """The user a token names, once its signature and expiry check out here (so a forged
    token never costs an RPC, nor spends another user's rate limit)."""
    try:
        caller = _tokens(request).verify(token)
    except UnauthorizedError as exc:
        raise ApiError("UNAUTHORIZED", "Invalid or expired authentication token") from exc
    if caller.is_service:
        raise ApiError("UNAUTHORIZED", "Invalid or expired authentication token")
    return caller.user_id


def bearer_claims(request: Request) -> tuple[str, Caller]:
    """The request's bearer token and its verified claims (expiry included), for a route
    that holds the token open after `current_user` admitted it."""
    token = (request.headers.get("authorization") or "").partition(" ")[2].strip()
    try:
        return token, _tokens(request).verify(token)
    except UnauthorizedError as exc:
        raise ApiError("UNAUTHORIZED", "Invalid or expired authentication token") from exc


def _auth_asks(request: Request) -> FreshAsks:
    """Concurrent requests with the same token (or key pair) share auth's answer, one
    asked after each of them arrived (kernel/standing.py)."""
    asks: FreshAsks | None = getattr(request.app.state, "auth_asks", None)
    if asks is None:
        asks = request.app.state.auth_asks = FreshAsks()
    return asks


async def _verified(request: Request, clients: Clients, token: str) -> auth_pb2.Principal:
    """The user as auth knows them now (disabled users' tokens stop at once)."""
    try:
        return await _auth_asks(request).ask(("token", token), lambda: clients.auth.VerifyToken(
            auth_pb2.VerifyTokenRequest(token=token)))
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise ApiError("UNAUTHORIZED", "Invalid or expired authentication token") from exc
        raise


async def current_user(request: Request, response: Response, clients: ServiceClients,
                       authorization: Annotated[str | None, Header()] = None) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError("UNAUTHORIZED", "Missing or invalid authentication token")
    user_id = _signed_user(request, token)
    route = route_class(request.method, request.scope["path"])
    found, limited = await asyncio.gather(_verified(request, clients, token),
                                          limit(request, response, route, f"u{user_id}"),
                                          return_exceptions=True)
    if isinstance(found, BaseException):
        raise found
    if isinstance(limited, BaseException):
        raise limited
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
    request: Request,
    response: Response,
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
        found = await _auth_asks(request).ask(
            ("keys", public, secret), lambda: clients.auth.AuthenticateInstance(
                auth_pb2.AuthenticateInstanceRequest(public_key=public, secret_key=secret)))
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND,
                          grpc.StatusCode.PERMISSION_DENIED):
            raise ApiError("INVALID_CREDENTIALS", "Invalid or revoked API credentials") from exc
        raise
    await limit(request, response, route_class(request.method, request.scope["path"]),
                f"i{found.instance_id}")
    return InstancePrincipal(found.instance_id, found.id, found.user_id, found.instance_name)


InstanceCaller = Annotated[InstancePrincipal, Depends(instance_caller)]
