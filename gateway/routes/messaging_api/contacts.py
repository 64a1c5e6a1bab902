"""Messaging API addition: POST /api/contacts/check, whether numbers are on WhatsApp,
answered per number (true, false, or null when unknown) by the device service, which
asks WhatsApp through a pool device and keeps the answers a while."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gateway.deps import CurrentUser, ServiceClients
from gateway.leanroute import api_router
from gateway.shapes import NumbersChecked, PhoneNumber, refusals
from gateway.text import RequestBody
from switchboard.device.v1 import device_pb2

router = api_router(prefix="/api/contacts", tags=["contacts"], responses=refusals(401))

ANSWERS = {device_pb2.ON_WHATSAPP_YES: True, device_pb2.ON_WHATSAPP_NO: False}


class CheckBody(RequestBody):
    numbers: list[PhoneNumber] = Field(min_length=1, max_length=50,
                                       examples=[["27821234567", "+44 7700 900123"]])


@router.post("/check", response_model=NumbersChecked)
async def check(body: CheckBody, user: CurrentUser, clients: ServiceClients) -> Any:
    """Whether each number (1 to 50, international format) has WhatsApp: `on_whatsapp`
    true, false, or null when it cannot be told now (no pool device is linked in the
    replica asked, WhatsApp did not answer, or the transport cannot tell: always null on
    the cloud transport). One entry per distinct number, as E.164 digits, in order of
    first mention. Answers are kept SWITCHBOARD_NUMBER_CHECK_TTL_SECONDS (24 h). Nothing
    is charged."""
    found = await clients.device.CheckNumbers(device_pb2.CheckNumbersRequest(
        numbers=body.numbers))
    return {"numbers": [{"number": n.number, "on_whatsapp": ANSWERS.get(n.on_whatsapp)}
                        for n in found.numbers]}
