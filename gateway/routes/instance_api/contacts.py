"""Instance API addition: POST /api/v1/whatsapp/contacts/check, whether numbers are on
WhatsApp, asked through the calling instance's own linked number (the Messaging API's
/api/contacts/check asks through the pool)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import InstanceCaller, ServiceClients
from gateway.leanroute import api_router
from gateway.routes.messaging_api.contacts import ANSWERS
from gateway.shapes import PhoneNumber
from gateway.text import RequestBody
from gateway.v1 import PREFIX, Ok, ok, v1_refusals
from switchboard.device.v1 import device_pb2

router = api_router(prefix=PREFIX, tags=["instance api"], responses=v1_refusals())


class CheckBody(RequestBody):
    model_config = ConfigDict(populate_by_name=True)

    phone_numbers: list[PhoneNumber] = Field(alias="phoneNumbers", min_length=1,
                                             max_length=50, examples=[["27821234567"]])


class NumberChecked(BaseModel):
    phoneNumber: str
    onWhatsApp: bool | None


class NumbersChecked(BaseModel):
    numbers: list[NumberChecked]


@router.post("/contacts/check", response_model=Ok[NumbersChecked])
async def check(body: CheckBody, caller: InstanceCaller, clients: ServiceClients) -> Any:
    """Whether each number (1 to 50, international format) has WhatsApp, asked through
    this instance's linked number: `onWhatsApp` true, false, or null when it cannot be
    told now (the instance is not linked in the replica asked, WhatsApp did not answer,
    the hour's look-ups are spent, or the cloud transport). Answers are kept 24 h."""
    found = await clients.device.CheckNumbers(device_pb2.CheckNumbersRequest(
        numbers=body.phone_numbers, device_id=caller.instance_id))
    return ok("Numbers checked successfully", {"numbers": [
        {"phoneNumber": n.number, "onWhatsApp": ANSWERS.get(n.on_whatsapp)}
        for n in found.numbers]})
