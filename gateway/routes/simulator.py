"""The simulator's phone side, for tests and demos: scan a QR, read a recipient's inbox,
send a message to a linked device's number (a reply, an unsolicited or a group message),
drop / log out / ban a device. Only when the simulator transport is on: otherwise
every /simulator path answers 404 NOT_FOUND, as if absent.

These stand for the phones, and read every tenant's messages: open to anyone only in
local use on a loopback bind (`make run`); anywhere else they take an admin's bearer
token (401 UNAUTHORIZED without one, 403 FORBIDDEN for a user who is not an admin).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from fastapi import Depends, Header, Path, Request, Response
from pydantic import ConfigDict, Field

from gateway.deps import ServiceClients, admin_user, current_user
from gateway.device_words import status_word
from gateway.errors import ApiError
from gateway.leanroute import api_router
from gateway.shapes import PhoneNumber
from gateway.text import RequestBody
from gateway.timefmt import iso_z
from kernel.keys import is_loopback
from switchboard.device.v1 import device_pb2


async def simulator_only(request: Request, response: Response, clients: ServiceClients,
                         authorization: Annotated[str | None, Header()] = None) -> None:
    settings = request.app.state.settings
    if settings.transport != "simulator":
        raise ApiError("NOT_FOUND", "Not Found")
    if settings.environment == "local" and is_loopback(settings.host):
        return
    await admin_user(await current_user(request, response, clients, authorization))


router = api_router(prefix="/simulator", tags=["simulator"],
                   dependencies=[Depends(simulator_only)])


class ScanBody(RequestBody):
    qr: str = Field(min_length=1, max_length=2000)
    phone_number: PhoneNumber


class PairingCodeBody(RequestBody):
    code: str = Field(min_length=8, max_length=9, pattern=r"^[0-9A-Za-z]{4}-?[0-9A-Za-z]{4}$")
    phone_number: PhoneNumber


class PhoneEventBody(RequestBody):
    device_id: str = Field(min_length=1, max_length=100)
    event: Literal["drop", "logout", "ban"]
    outage_seconds: float = Field(default=0.0, ge=0, le=3600)
    reason: str = Field(default="", max_length=200)


class PhoneMedia(RequestBody):
    content: str = Field(min_length=1, description="The file's bytes, base64")
    mime_type: str = Field(min_length=3, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$",
                           examples=["image/jpeg"])
    filename: str = Field(default="", max_length=255)


class ReplyBody(RequestBody):
    model_config = ConfigDict(populate_by_name=True)

    from_: PhoneNumber = Field(alias="from")
    to: PhoneNumber
    message: str = Field(default="", max_length=4096)
    media: PhoneMedia | None = None
    quoted_id: str = Field(default="", max_length=200,
                           description="The inbox message_id of the message it answers")
    group_id: str = Field(default="", max_length=128, pattern=r"^[0-9A-Za-z@.:_-]*$")
    message_id: str = Field(default="", max_length=128, pattern=r"^[0-9A-Za-z._:-]*$",
                            description="The phone's own id: a retry with it is one message")


def _media_bytes(media: PhoneMedia | None) -> bytes:
    if media is None:
        return b""
    try:
        return base64.b64decode(media.content, validate=True)
    except binascii.Error as exc:
        raise ApiError("INVALID_REQUEST", "media.content: not base64") from exc


def _device(device: device_pb2.Device) -> dict[str, object]:
    return {"device_id": device.device_id, "status": status_word(device),
            "phone_number": device.phone_number or None}


@router.post("/scan")
async def scan(body: ScanBody, clients: ServiceClients) -> dict[str, object]:
    """The phone of `phone_number` scans a QR code (its decoded text): the device links to that
    number."""
    device = await clients.device.SimulateScan(device_pb2.SimulateScanRequest(
        pairing_ref=body.qr, phone_number=body.phone_number))
    return {"message": "Device linked successfully", **_device(device)}


@router.post("/pairing-code")
async def pairing_code(body: PairingCodeBody, clients: ServiceClients) -> dict[str, object]:
    """The phone of `phone_number` types a pairing code issued for it (any case, the dash
    optional): the device links to that number. An unknown, replaced, expired or used
    code, or one issued for another number: 400 INVALID_REQUEST."""
    device = await clients.device.SimulatePairingCode(device_pb2.SimulatePairingCodeRequest(
        code=body.code, phone_number=body.phone_number))
    return {"message": "Device linked successfully", **_device(device)}


@router.post("/phone-event")
async def phone_event(body: PhoneEventBody, clients: ServiceClients) -> dict[str, object]:
    """Something happens on a device's phone: a network loss of `outage_seconds` (reconnected
    automatically), a logout, or a ban by WhatsApp."""
    device = await clients.device.SimulatePhoneEvent(
        device_pb2.SimulatePhoneEventRequest(device_id=body.device_id, kind=body.event,
                                             outage_seconds=body.outage_seconds,
                                             reason=body.reason))
    return {"message": "Phone event simulated", **_device(device)}


def _media(m: device_pb2.InboxMessage) -> dict[str, object]:
    """A media message's file as the phone received it (its hash computed by the phone)."""
    if not m.media_sha256:
        return {}
    return {"media": {"sha256": m.media_sha256, "type": m.media_type,
                      "mime_type": m.mime_type, "size_bytes": m.media_size,
                      "filename": m.filename}}


@router.post("/reply")
async def reply(body: ReplyBody, clients: ServiceClients) -> dict[str, object]:
    """The phone of `from` sends a message to the linked device whose number is `to`: a
    reply (`quoted_id`: the inbox `message_id` it answers), an unsolicited message, or a
    group's (`group_id`); text and/or a file (`media`, base64). The device records it as
    a received message (docs/api.md, "Inbound messages"). No device with that number:
    404 NOT_FOUND; neither text nor media: 400 INVALID_REQUEST."""
    content = _media_bytes(body.media)
    found = await clients.device.SimulateInbound(device_pb2.SimulateInboundRequest(
        from_number=body.from_, to_number=body.to, text=body.message, media=content,
        mime_type=body.media.mime_type if body.media else "",
        filename=body.media.filename if body.media else "", quoted_message_id=body.quoted_id,
        group_id=body.group_id, message_id=body.message_id))
    return {"message": "Message sent to the device", "device_id": found.device_id,
            "message_id": found.transport_message_id}


@router.get("/inbox/{phone_number}")
async def inbox(phone_number: Annotated[str, Path(max_length=32, pattern=r"^\+?[0-9]+$")],
                clients: ServiceClients) -> dict[str, object]:
    """What the phone of `phone_number` received, once per message."""
    found = await clients.device.GetSimulatorInbox(
        device_pb2.GetSimulatorInboxRequest(phone_number=phone_number))
    messages = [{"message_id": m.transport_message_id, "from": m.from_number, "body": m.body,
                 "device_id": m.device_id, "received_at": iso_z(m.received_at),
                 **_media(m)}
                for m in found.messages]
    return {"phone_number": phone_number.lstrip("+"), "count": len(messages),
            "messages": messages}
