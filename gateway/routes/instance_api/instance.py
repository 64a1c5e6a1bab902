"""Instance API: GET /api/v1/whatsapp/instance and /instance/qrcode (seed 000), field for
field; the status words are gateway/device_words.py's. Beside them, Switchboard's POST
/instance/pairing-code: link by a code typed on the phone instead of a QR."""

from __future__ import annotations

from typing import Any

import grpc
from pydantic import ConfigDict, Field

from gateway.billing_views import subscription_block
from gateway.deps import InstanceCaller, ServiceClients
from gateway.device_words import status_word
from gateway.leanroute import api_router
from gateway.shapes import PhoneNumber
from gateway.text import RequestBody
from gateway.timefmt import iso_naive
from gateway.v1 import PREFIX, InstanceInfo, Ok, PairingCode, QrCode, ok, v1_refusals
from switchboard.billing.v1 import billing_pb2
from switchboard.device.v1 import device_pb2

router = api_router(prefix=PREFIX, tags=["instance api"], responses=v1_refusals(
    "FORBIDDEN", 404, "ALREADY_CONNECTED"))

def _whatsapp_number(device: device_pb2.Device) -> str | None:
    shown = device.session_linked or device.status == device_pb2.DEVICE_STATUS_BANNED
    return device.phone_number if shown and device.phone_number else None


async def _subscription(clients: ServiceClients, instance_id: str) -> Any:
    """Billing's subscription of the instance; null until billing has started it."""
    try:
        quota = await clients.billing.GetQuota(
            billing_pb2.GetQuotaRequest(instance_id=instance_id))
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise
    return subscription_block(quota)


@router.get("/instance", response_model=Ok[InstanceInfo])
async def instance(caller: InstanceCaller, clients: ServiceClients) -> dict[str, object]:
    """The calling instance: status, linked number, when it connected, its subscription and the last
    error its device reported."""
    # The device service asks auth about an instance it has not heard of yet, so a
    # just-created instance answers here at once (services/device/app/devices.py).
    device = await clients.device.GetDevice(
        device_pb2.GetDeviceRequest(device_id=caller.instance_id))
    return ok("Instance information retrieved successfully", {
        "id": caller.id,
        "instanceId": caller.instance_id,
        "instanceName": caller.instance_name,
        "status": status_word(device),
        "isConnected": device.status == device_pb2.DEVICE_STATUS_CONNECTED,
        "whatsappNumber": _whatsapp_number(device),
        "createdAt": iso_naive(device.created_at),
        "connectedAt": iso_naive(device.connected_at),
        "subscription": await _subscription(clients, caller.instance_id),
        "lastError": _last_error(device),
    })


def _last_error(device: device_pb2.Device) -> dict[str, object] | None:
    if not device.last_error:
        return None
    return {"at": iso_naive(device.last_error_at), "reason": device.last_error}


@router.get("/instance/qrcode", response_model=Ok[QrCode])
async def qrcode(caller: InstanceCaller, clients: ServiceClients) -> dict[str, object]:
    """The current QR code to scan with WhatsApp (a PNG data URL) and the seconds it stays valid; it
    rotates as WhatsApp Web's does. 409 ALREADY_CONNECTED once linked, 403 FORBIDDEN when banned."""
    qr = await clients.device.RequestQrCode(
        device_pb2.RequestQrCodeRequest(device_id=caller.instance_id))
    return ok("QR code generated successfully",
              {"qrCode": qr.qr_png_data_url, "expiresIn": qr.expires_in_seconds})


class PairingCodeBody(RequestBody):
    model_config = ConfigDict(populate_by_name=True)

    phone_number: PhoneNumber = Field(alias="phoneNumber")


@router.post("/instance/pairing-code", response_model=Ok[PairingCode],
             responses=v1_refusals("INVALID_REQUEST", "UNSUPPORTED_BY_TRANSPORT", "FORBIDDEN",
                                   "ALREADY_CONNECTED"))
async def pairing_code(body: PairingCodeBody, caller: InstanceCaller,
                       clients: ServiceClients) -> dict[str, object]:
    """A code to type on the phone of `phoneNumber` instead of scanning the QR code
    (WhatsApp > Linked devices > Link with phone number instead): 8 characters, shown by
    the phone as ABCD-EFGH. 409 ALREADY_CONNECTED when linked, 400
    UNSUPPORTED_BY_TRANSPORT on the cloud transport, 400 INVALID_REQUEST for a bad number."""
    issued = await clients.device.RequestPairingCode(device_pb2.RequestPairingCodeRequest(
        device_id=caller.instance_id, phone_number=body.phone_number))
    return ok("Pairing code generated successfully",
              {"pairingCode": issued.code, "expiresIn": issued.expires_in_seconds})
