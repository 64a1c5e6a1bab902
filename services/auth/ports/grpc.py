"""The gRPC edge of auth: protobuf in, commands to the handlers, protobuf out."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from kernel.errors import DomainError
from services.auth.adapters.users import UserDirectory
from services.auth.app import handlers
from services.auth.app.handlers import Passwords
from services.auth.app.tokens import SigningKey
from services.auth.domain import errors
from services.auth.domain.commands import DisableUser, EnsureAdmin, Login, Register
from services.auth.domain.model import User
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc

SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name

# The one table from auth's domain errors to gRPC status codes.
GRPC_STATUS: dict[type[DomainError], grpc.StatusCode] = {
    errors.InvalidRegistrationError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.UsernameTakenError: grpc.StatusCode.ALREADY_EXISTS,
    errors.InvalidCredentialsError: grpc.StatusCode.UNAUTHENTICATED,
    errors.InvalidTokenError: grpc.StatusCode.UNAUTHENTICATED,
    errors.UserNotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.DirectoryBusyError: grpc.StatusCode.UNAVAILABLE,
}

M = TypeVar("M", bound=Callable[..., Awaitable[Any]])


def mapped(method: M) -> M:
    """Give a domain error raised by `method` its gRPC status from the table."""

    @functools.wraps(method)
    async def call(*args: Any) -> Any:
        try:
            return await method(*args)
        except DomainError as exc:
            exc.status = GRPC_STATUS.get(type(exc), exc.status)
            raise

    return call  # type: ignore[return-value]


def user_pb(user: User) -> auth_pb2.User:
    msg = auth_pb2.User(user_id=user.user_id, username=user.username, email=user.email,
                        notification_number=user.notification_number,
                        is_admin=user.is_admin, disabled=user.disabled)
    if user.created_at is not None:
        msg.created_at.FromDatetime(user.created_at)
    return msg


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, users: UserDirectory, passwords: Passwords, key: SigningKey) -> None:
        self.users = users
        self.passwords = passwords
        self.key = key

    @mapped
    async def Register(self, request: auth_pb2.RegisterRequest,
                       context: grpc.aio.ServicerContext) -> auth_pb2.RegisterResponse:
        cmd = Register(request.username, request.password, request.email,
                       request.notification_number)
        user = await handlers.register(cmd, self.users, self.passwords)
        return auth_pb2.RegisterResponse(user_id=user.user_id, user=user_pb(user))

    @mapped
    async def Login(self, request: auth_pb2.LoginRequest,
                    context: grpc.aio.ServicerContext) -> auth_pb2.LoginResponse:
        cmd = Login(request.username, request.password, request.client_address)
        session = await handlers.login(cmd, self.users, self.passwords, self.key)
        return auth_pb2.LoginResponse(access_token=session.token, token_type="Bearer",
                                      user=user_pb(session.user),
                                      expires_in=self.key.ttl_seconds)

    @mapped
    async def VerifyToken(self, request: auth_pb2.VerifyTokenRequest,
                          context: grpc.aio.ServicerContext) -> auth_pb2.Principal:
        user, claims = await handlers.verify_token(request.token, self.users, self.key)
        return auth_pb2.Principal(user_id=user.user_id, username=user.username,
                                  is_admin=user.is_admin, expires_at=claims.expires_at)

    @mapped
    async def GetUser(self, request: auth_pb2.GetUserRequest,
                      context: grpc.aio.ServicerContext) -> auth_pb2.User:
        return user_pb(await handlers.get_user(request.user_id, self.users))

    @mapped
    async def EnsureAdmin(self, request: auth_pb2.EnsureAdminRequest,
                          context: grpc.aio.ServicerContext) -> auth_pb2.User:
        cmd = EnsureAdmin(request.username, request.password)
        return user_pb(await handlers.ensure_admin(cmd, self.users, self.passwords))

    @mapped
    async def DisableUser(self, request: auth_pb2.DisableUserRequest,
                          context: grpc.aio.ServicerContext) -> auth_pb2.User:
        cmd = DisableUser(request.user_id, request.reason)
        return user_pb(await handlers.disable_user(cmd, self.users))

    def register_on(self, server: grpc.aio.Server) -> None:
        auth_pb2_grpc.add_AuthServiceServicer_to_server(self, server)
