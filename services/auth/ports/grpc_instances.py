"""The instance half of auth's gRPC edge (key pairs of the Instance API)."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from services.auth.app import instances
from services.auth.app.dependencies import AuthDeps
from services.auth.app.instances import Issued
from services.auth.domain.commands import (
    AuthenticateInstance,
    CreateInstance,
    InstanceRef,
    ListInstances,
)
from services.auth.ports.messages import instance_pb
from switchboard.auth.v1 import auth_pb2

Ctx: TypeAlias = grpc.aio.ServicerContext


def _ref(request: auth_pb2.InstanceRef) -> InstanceRef:
    return InstanceRef(request.user_id, request.instance_id[:64], request.as_admin)


def _credentials(issued: Issued) -> auth_pb2.InstanceCredentials:
    instance = issued.instance
    return auth_pb2.InstanceCredentials(instance=instance_pb(instance, instance.number),
                                        secret_key=issued.secret_key)


class InstanceRpcs:
    deps: AuthDeps

    async def CreateInstance(self, request: auth_pb2.CreateInstanceRequest,
                             context: Ctx) -> auth_pb2.InstanceCredentials:
        cmd = CreateInstance(request.user_id, request.instance_name)
        return _credentials(await instances.create_instance(cmd, self.deps))

    async def ListInstances(self, request: auth_pb2.ListInstancesRequest,
                            context: Ctx) -> auth_pb2.ListInstancesResponse:
        owner = None if request.all_users else request.user_id
        query = ListInstances(owner, request.page, request.per_page)
        found, total = await instances.list_instances(query, self.deps)
        return auth_pb2.ListInstancesResponse(instances=[instance_pb(i, i.id) for i in found],
                                              total=total)

    async def GetInstance(self, request: auth_pb2.InstanceRef,
                          context: Ctx) -> auth_pb2.Instance:
        entry = await instances.get_instance(_ref(request), self.deps)
        return instance_pb(entry, entry.id)

    async def DeleteInstance(self, request: auth_pb2.InstanceRef,
                             context: Ctx) -> auth_pb2.Instance:
        deleted = await instances.delete_instance(_ref(request), self.deps)
        return instance_pb(deleted, deleted.number)

    async def RotateInstanceKeys(self, request: auth_pb2.InstanceRef,
                                 context: Ctx) -> auth_pb2.InstanceCredentials:
        return _credentials(await instances.rotate_keys(_ref(request), self.deps))

    async def AuthenticateInstance(self, request: auth_pb2.AuthenticateInstanceRequest,
                                   context: Ctx) -> auth_pb2.Instance:
        cmd = AuthenticateInstance(request.public_key, request.secret_key)
        entry = await instances.authenticate_instance(cmd, self.deps)
        return instance_pb(entry, entry.id)
