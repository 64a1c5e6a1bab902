"""Messaging API additions: the owner logs an instance out, restarts its session, or
asks for a pairing code to link it from a phone without a QR.

POST /api/instances/{id}/logout, /restart and /pairing-code (JWT). An instance that is not
the caller's (admins may act on any) is NOT_FOUND, as auth answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from gateway.deps import CurrentUser, Principal, ServiceClients
from gateway.device_words import status_word
from gateway.leanroute import api_router
from gateway.shapes import InstanceControlled, PairingCodeIssued, PhoneNumber, refusals
from gateway.text import RequestBody
from gateway.timefmt import iso_z
from switchboard.auth.v1 import auth_pb2
from switchboard.device.v1 import device_pb2

router = api_router(prefix="/api/instances", tags=["instances"],
                   responses=refusals(401, 403, 404, "INSTANCE_NOT_CONNECTED",
                                      "ALREADY_CONNECTED", "CONFLICT"))

InstanceId = Annotated[str, Path(min_length=1, max_length=100)]


async def _owned(clients: ServiceClients, user: Principal, instance_id: str) -> None:
    await clients.auth.GetInstance(auth_pb2.InstanceRef(
        user_id=user.user_id, instance_id=instance_id, as_admin=user.is_admin))


def _shown(message: str, device: device_pb2.Device) -> dict[str, object]:
    return {"message": message, "instance_id": device.device_id,
            "status": status_word(device), "is_connected":
            device.status == device_pb2.DEVICE_STATUS_CONNECTED}


@router.post("/{instance_id}/logout", response_model=InstanceControlled)
async def logout(instance_id: InstanceId, user: CurrentUser,
                 clients: ServiceClients) -> dict[str, object]:
    """End the instance's link at WhatsApp (idempotent); a new QR code or pairing code is needed to
    link it again."""
    await _owned(clients, user, instance_id)
    device = await clients.device.LogoutDevice(
        device_pb2.DeviceRef(device_id=instance_id))
    return _shown("Instance logged out successfully", device)


@router.post("/{instance_id}/restart", response_model=InstanceControlled)
async def restart(instance_id: InstanceId, user: CurrentUser,
                  clients: ServiceClients) -> dict[str, object]:
    """Take the linked session down and up again now (also resets a reconnect backoff); 409
    INSTANCE_NOT_CONNECTED when the instance has no link."""
    await _owned(clients, user, instance_id)
    device = await clients.device.RestartDevice(
        device_pb2.DeviceRef(device_id=instance_id))
    return _shown("Instance restarted successfully", device)


class PairingCodeBody(RequestBody):
    phone_number: PhoneNumber


@router.post("/{instance_id}/pairing-code", response_model=PairingCodeIssued,
             responses=refusals("INVALID_REQUEST", "UNSUPPORTED_BY_TRANSPORT", "FORBIDDEN",
                                "ALREADY_CONNECTED"))
async def pairing_code(instance_id: InstanceId, body: PairingCodeBody, user: CurrentUser,
                       clients: ServiceClients) -> dict[str, object]:
    """A code to type on the phone of `phone_number` (WhatsApp > Linked devices > Link a
    device > Link with phone number instead) that links the instance without a QR: 8
    characters, shown by the phone as ABCD-EFGH. 409 ALREADY_CONNECTED when linked, 400
    UNSUPPORTED_BY_TRANSPORT on the cloud transport, 400 INVALID_REQUEST for a bad number."""
    await _owned(clients, user, instance_id)
    issued = await clients.device.RequestPairingCode(device_pb2.RequestPairingCodeRequest(
        device_id=instance_id, phone_number=body.phone_number))
    return {"message": "Pairing code generated successfully", "instance_id": instance_id,
            "pairing_code": issued.code, "expires_at": iso_z(issued.expires_at),
            "expires_in": issued.expires_in_seconds}
