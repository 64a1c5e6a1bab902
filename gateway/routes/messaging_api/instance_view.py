"""Messaging API additions: an instance's status and QR code for its owner's token.

GET /api/instances/{id}/status and /qrcode answer the Instance API's own documents
(`GET /api/v1/whatsapp/instance`'s and `/instance/qrcode`'s `data`), so the console links
and watches an instance with the JWT alone, without its secret key. An instance that is
not the caller's (admins may read any) is NOT_FOUND, as auth answers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from gateway.deps import CurrentUser, InstancePrincipal, Principal, ServiceClients
from gateway.leanroute import api_router
from gateway.routes.instance_api import instance
from gateway.shapes import refusals
from gateway.v1 import InstanceInfo, QrCode
from switchboard.auth.v1 import auth_pb2

router = api_router(prefix="/api/instances", tags=["instances"],
                   responses=refusals(401, 403, 404, "ALREADY_CONNECTED"))

InstanceId = Annotated[str, Path(min_length=1, max_length=100)]


async def _instance(clients: ServiceClients, user: Principal,
                    instance_id: str) -> InstancePrincipal:
    found = await clients.auth.GetInstance(auth_pb2.InstanceRef(
        user_id=user.user_id, instance_id=instance_id, as_admin=user.is_admin))
    return InstancePrincipal(found.instance_id, found.id, found.user_id, found.instance_name)


@router.get("/{instance_id}/status", response_model=InstanceInfo)
async def instance_status(instance_id: InstanceId, user: CurrentUser,
                          clients: ServiceClients) -> Any:
    """The instance's status, linked number, last error and subscription: the `data` of
    the Instance API's `GET /api/v1/whatsapp/instance`, for the owner's (or an admin's)
    token."""
    shown = await instance.instance(await _instance(clients, user, instance_id), clients)
    return shown["data"]


@router.get("/{instance_id}/qrcode", response_model=QrCode)
async def instance_qrcode(instance_id: InstanceId, user: CurrentUser,
                          clients: ServiceClients) -> Any:
    """The instance's current QR code to scan with WhatsApp (a PNG data URL) and the
    seconds it stays valid: the `data` of the Instance API's `GET
    /api/v1/whatsapp/instance/qrcode`. It rotates as that one does; 409
    `ALREADY_CONNECTED` once linked, 403 `FORBIDDEN` for a banned number."""
    shown = await instance.qrcode(await _instance(clients, user, instance_id), clients)
    return shown["data"]
