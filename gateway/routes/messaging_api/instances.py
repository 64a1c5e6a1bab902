"""Instances and their key pairs for the Instance API (Switchboard's shapes, docs/api.md).

A signed-in user manages their own instances; the secret key is in the answer of create
and rotate only. Another user's instance is 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

from gateway.deps import CurrentUser, ServiceClients
from gateway.leanroute import api_router
from gateway.shapes import (
    InstanceCredentials,
    InstanceDeleted,
    InstanceDoc,
    InstancePage,
    refusals,
)
from gateway.text import RequestBody
from gateway.timefmt import iso_naive
from switchboard.auth.v1 import auth_pb2

router = api_router(prefix="/api/instances", tags=["instances"],
                   responses=refusals(401, 404))
InstanceId = Annotated[str, Path(max_length=64)]


class CreateBody(RequestBody):
    instance_name: str = Field(min_length=1, max_length=100, examples=["Main WhatsApp"])


def instance_doc(instance: auth_pb2.Instance) -> dict[str, object]:
    return {
        "instance_id": instance.instance_id,
        "id": instance.id,
        "instance_name": instance.instance_name,
        "public_key": instance.public_key,
        "created_at": iso_naive(instance.created_at),
    }


def credentials_doc(made: auth_pb2.InstanceCredentials) -> dict[str, object]:
    return {**instance_doc(made.instance), "secret_key": made.secret_key}


def pagination(page: int, per_page: int, total: int) -> dict[str, int]:
    return {"page": page, "per_page": per_page, "total": total,
            "pages": (total + per_page - 1) // per_page}


@router.post("", status_code=201, response_model=InstanceCredentials)
async def create_instance(body: CreateBody, user: CurrentUser,
                          clients: ServiceClients) -> dict[str, object]:
    """A new instance and its key pair for the Instance API: the `secret_key` is shown only here
    (and on rotation)."""
    made = await clients.auth.CreateInstance(auth_pb2.CreateInstanceRequest(
        user_id=user.user_id, instance_name=body.instance_name))
    return {"message": "Instance created successfully", **credentials_doc(made)}


@router.get("", response_model=InstancePage)
async def list_instances(user: CurrentUser, clients: ServiceClients,
                         page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                         per_page: Annotated[int, Query(ge=1, le=100)] = 20
                         ) -> dict[str, object]:
    """The user's instances, paged."""
    found = await clients.auth.ListInstances(auth_pb2.ListInstancesRequest(
        user_id=user.user_id, page=page, per_page=per_page))
    return {"instances": [instance_doc(i) for i in found.instances],
            "pagination": pagination(page, per_page, found.total)}


@router.get("/{instance_id}", response_model=InstanceDoc)
async def get_instance(instance_id: InstanceId, user: CurrentUser,
                       clients: ServiceClients) -> dict[str, object]:
    """One of the user's instances (without its secret key); another user's id is 404."""
    found = await clients.auth.GetInstance(auth_pb2.InstanceRef(
        user_id=user.user_id, instance_id=instance_id))
    return instance_doc(found)


@router.delete("/{instance_id}", response_model=InstanceDeleted)
async def delete_instance(instance_id: InstanceId, user: CurrentUser,
                          clients: ServiceClients) -> dict[str, object]:
    """Delete an instance: its key pair stops working at once and its subscription ends."""
    deleted = await clients.auth.DeleteInstance(auth_pb2.InstanceRef(
        user_id=user.user_id, instance_id=instance_id))
    return {"message": "Instance deleted successfully", "instance_id": deleted.instance_id}


@router.post("/{instance_id}/keys/rotate", response_model=InstanceCredentials)
async def rotate_keys(instance_id: InstanceId, user: CurrentUser,
                      clients: ServiceClients) -> dict[str, object]:
    """A new key pair for the instance; the old pair stops working at once."""
    rotated = await clients.auth.RotateInstanceKeys(auth_pb2.InstanceRef(
        user_id=user.user_id, instance_id=instance_id))
    return {"message": "Keys rotated successfully; the previous pair no longer works",
            **credentials_doc(rotated)}
