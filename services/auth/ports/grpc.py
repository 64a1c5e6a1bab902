"""The gRPC edge of auth: protobuf in, commands to the handlers, protobuf out."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from kernel.guard import peer_host
from kernel.tokens import current_caller
from services.auth.app import admin, handlers
from services.auth.app.dependencies import AuthDeps
from services.auth.domain.commands import (
    DisableUser,
    EnsureAdmin,
    GetUser,
    ListUsers,
    Login,
    Register,
    UpdateUser,
    VerifyToken,
)
from services.auth.ports.grpc_instances import InstanceRpcs
from services.auth.ports.messages import user_pb
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc

SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name

Ctx: TypeAlias = grpc.aio.ServicerContext


class AuthServicer(InstanceRpcs, auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, deps: AuthDeps) -> None:
        self.deps = deps

    async def Register(self, request: auth_pb2.RegisterRequest,
                       context: Ctx) -> auth_pb2.RegisterResponse:
        caller = current_caller()  # an operator's registration comes with a service token
        by_operator = request.by_operator and caller is not None and caller.is_service
        cmd = Register(request.username, request.password, request.email,
                       request.notification_number, by_operator=by_operator)
        user = await handlers.register(cmd, self.deps)
        return auth_pb2.RegisterResponse(user_id=user.user_id, user=user_pb(user))

    async def Login(self, request: auth_pb2.LoginRequest, context: Ctx) -> auth_pb2.LoginResponse:
        cmd = Login(request.username, request.password, _client_address(request, context))
        session = await handlers.login(cmd, self.deps)
        return auth_pb2.LoginResponse(access_token=session.token, token_type="Bearer",
                                      user=user_pb(session.user),
                                      expires_in=self.deps.tokens.ttl_seconds)

    async def VerifyToken(self, request: auth_pb2.VerifyTokenRequest,
                          context: Ctx) -> auth_pb2.Principal:
        user, claims = await handlers.verify_token(VerifyToken(request.token), self.deps)
        return auth_pb2.Principal(user_id=user.user_id, username=user.username,
                                  is_admin=user.is_admin, expires_at=claims.expires_at)

    async def GetUser(self, request: auth_pb2.GetUserRequest, context: Ctx) -> auth_pb2.User:
        return user_pb(await handlers.get_user(GetUser(request.user_id), self.deps))

    async def EnsureAdmin(self, request: auth_pb2.EnsureAdminRequest,
                          context: Ctx) -> auth_pb2.User:
        cmd = EnsureAdmin(request.username, request.password, promote=True)
        return user_pb(await handlers.ensure_admin(cmd, self.deps))

    async def DisableUser(self, request: auth_pb2.DisableUserRequest,
                          context: Ctx) -> auth_pb2.User:
        cmd = DisableUser(request.user_id, request.reason)
        return user_pb(await admin.disable_user(cmd, self.deps))

    async def ListUsers(self, request: auth_pb2.ListUsersRequest,
                        context: Ctx) -> auth_pb2.ListUsersResponse:
        query = ListUsers(request.page, request.per_page)
        users, total = await admin.list_users(query, self.deps)
        return auth_pb2.ListUsersResponse(users=[user_pb(u) for u in users], total=total)

    async def UpdateUser(self, request: auth_pb2.UpdateUserRequest,
                         context: Ctx) -> auth_pb2.User:
        caller = current_caller()  # an admin's own token speaks for that admin
        acting = caller.user_id if caller and not caller.is_service else request.acting_user_id
        cmd = UpdateUser(
            request.user_id, acting,
            request.is_admin if request.HasField("is_admin") else None,
            request.disabled if request.HasField("disabled") else None, request.reason)
        return user_pb(await admin.update_user(cmd, self.deps))

    def register_on(self, server: grpc.aio.Server) -> None:
        auth_pb2_grpc.add_AuthServiceServicer_to_server(self, server)


def _client_address(request: auth_pb2.LoginRequest, context: Ctx) -> str:
    """The address a sign-in is counted against: the one a service (the gateway) names,
    else the caller's own peer address (a direct caller cannot pick its key)."""
    caller = current_caller()
    if caller is None or caller.is_service:  # a service, or internal auth off
        return request.client_address
    return peer_host(context.peer())
