"""Instance API: POST /api/v1/whatsapp/send (seed 000), for the instance whose key pair
signs the call. The message is pinned to that instance's device and paid from its quota.

The messaging service answers once the device has handed the message to WhatsApp:
`status` "sent" with the real `sentAt`, as the seed shows it. When that takes longer than
its wait (SWITCHBOARD_INSTANCE_SEND_WAIT_SECONDS, 10 s: pacing, a reconnect), `status`
is "queued", `sentAt` null and the message says so; "failed" when it failed for good.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import ConfigDict, Field

from gateway.clients import Clients
from gateway.deps import InstanceCaller, InstancePrincipal, ServiceClients
from gateway.idempotency import IdempotencyKey, once
from gateway.leanroute import api_router
from gateway.text import RequestBody
from gateway.timefmt import iso_naive
from gateway.v1 import PREFIX, MessageSent, Ok, ok, v1_refusals
from switchboard.messaging.v1 import messaging_pb2

router = api_router(prefix=PREFIX, tags=["instance api"], responses=v1_refusals(
    "QUOTA_EXCEEDED", "INSTANCE_NOT_CONNECTED", "CONFLICT"))


class InstanceSendBody(RequestBody):
    model_config = ConfigDict(populate_by_name=True)

    phone_number: str = Field(alias="phoneNumber", max_length=64, examples=["27821234567"])
    message: str = Field(max_length=20000, examples=["Hello from API!"])


def status_word(status: int) -> str:
    return str(messaging_pb2.Status.Name(status)).removeprefix("STATUS_").lower()


@router.post("/send", response_model=Ok[MessageSent])
async def send(body: InstanceSendBody, caller: InstanceCaller, clients: ServiceClients,
               request: Request, response: Response,
               idempotency_key: IdempotencyKey = None) -> Any:
    """Send one message from the calling instance's own number, paid from its quota; the answer
    waits (up to SWITCHBOARD_INSTANCE_SEND_WAIT_SECONDS) for the hand-over to WhatsApp: `status`
    sent, queued or failed. 409 INSTANCE_NOT_CONNECTED and 403 QUOTA_EXCEEDED charge nothing."""
    return await once(request, response, clients, f"i{caller.instance_id}", idempotency_key,
                      body, lambda seed: _send(body, caller, clients, seed))


async def _send(body: InstanceSendBody, caller: InstancePrincipal, clients: Clients,
                id_seed: str) -> dict[str, object]:
    sent = await clients.messaging.SendInstanceMessage(
        messaging_pb2.SendInstanceMessageRequest(
            instance_id=caller.instance_id, user_id=caller.user_id,
            number=body.phone_number, message=body.message, id_seed=id_seed))
    return sent_answer(sent)


def sent_answer(sent: messaging_pb2.SendInstanceMessageResponse) -> dict[str, Any]:
    """send's answer (send-media's too): the message's fate within the wait."""
    return ok(_outcome(sent), {
        "messageId": sent.message_id,
        "status": status_word(sent.status),
        "phoneNumber": sent.number,
        "message": sent.message,
        "sentAt": iso_naive(sent.sent_at),
        "quotaRemaining": sent.quota_remaining,
        "quotaUsed": sent.quota_used,
        "quotaTotal": sent.quota_total,
    })


def _outcome(sent: messaging_pb2.SendInstanceMessageResponse) -> str:
    if sent.status == messaging_pb2.STATUS_SENT:
        return "Message sent successfully"
    if sent.status == messaging_pb2.STATUS_FAILED:
        return f"Message could not be sent: {sent.error_message}"
    return "Message queued: not yet handed to WhatsApp; it is sent as soon as it can be"
