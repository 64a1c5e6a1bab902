"""Messaging API (seed 002), field for field: POST /api/messages/send-message and
/send-bulk-message, GET /api/messages/message-status/{queue_id}; beside the seed, a bulk
request's job, GET /api/messages/bulk/{job_id}. The rest of /api/messages is the history
(history.py) and the status stream (stream.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request, Response
from pydantic import Field

from gateway.clients import Clients
from gateway.deps import CurrentUser, Principal, ServiceClients
from gateway.errors import ApiError
from gateway.idempotency import IdempotencyKey, once
from gateway.leanroute import api_router
from gateway.shapes import BulkJob, BulkQueued, MessageQueued, MessageStatus, refusals
from gateway.text import RequestBody
from gateway.timefmt import iso_z
from gateway.whatsapp_templates import WhatsAppTemplate, template_json
from switchboard.messaging.v1 import messaging_pb2

router = api_router(prefix="/api/messages", tags=["messages"],
                   responses=refusals(401, 404))
# what a send may refuse beyond bad input: credits, a template (404), an Idempotency-Key
# (409 CONFLICT), no linked pool number
SEND_REFUSALS = refusals("INSUFFICIENT_CREDITS", "NOT_FOUND", "CONFLICT",
                         "INSTANCE_NOT_CONNECTED")

STATUS_WORDS = {
    messaging_pb2.STATUS_QUEUED: "Queued",
    messaging_pb2.STATUS_SENDING: "Sending",
    messaging_pb2.STATUS_SENT: "Sent",
    messaging_pb2.STATUS_DELIVERED: "Delivered",
    messaging_pb2.STATUS_READ: "Read",
    messaging_pb2.STATUS_FAILED: "Failed",
}
COMPLETE = {"Sent", "Delivered", "Read", "Failed"}


class SendMessageBody(RequestBody):
    number: str = Field(max_length=64, examples=["27821234567"])
    message: str | None = Field(default=None, examples=["Hello from WhatsApp API!"])
    # a Meta template instead of a text (cloud transport only; docs/api.md)
    whatsapp_template: WhatsAppTemplate | None = None
    template_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    variables: dict[str, str] | None = None


class BulkBody(RequestBody):
    # Capped loosely here; messaging enforces 1..200 and names a bad number.
    numbers: list[Annotated[str, Field(max_length=64)]] = Field(
        max_length=1000, examples=[["27821234567", "27829876543"]])
    message: str | None = Field(default=None, examples=["Bulk message to all recipients!"])
    template_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    variables: dict[str, str] | None = None
    # the same file to every number (send-media's rules; `message` is then its caption)
    media_url: str | None = Field(default=None, max_length=2048)
    filename: str | None = Field(default=None, max_length=255)


def _content_check(message: str | None, template_id: int | None) -> None:
    if message is None and template_id is None:
        raise ApiError("INVALID_REQUEST", "Either message or template_id is required")


def _variables_check(request: Request, variables: dict[str, str] | None) -> None:
    """At most `template_max_variables` variables of at most
    `template_max_variable_chars` each (messaging checks the same again)."""
    settings = request.app.state.settings
    if len(variables or {}) > settings.template_max_variables:
        raise ApiError("INVALID_REQUEST", f"Too many template variables: at most "
                                          f"{settings.template_max_variables}")
    if any(len(v) > settings.template_max_variable_chars for v in (variables or {}).values()):
        raise ApiError("INVALID_REQUEST", f"A template variable is too long: at most "
                                          f"{settings.template_max_variable_chars} characters")


@router.post("/send-bulk-message", response_model=BulkQueued, responses=SEND_REFUSALS)
async def send_bulk_message(body: BulkBody, user: CurrentUser, clients: ServiceClients,
                            request: Request, response: Response,
                            idempotency_key: IdempotencyKey = None) -> Any:
    """Queue one message to each of 1-200 numbers (a number given twice is sent once), through the
    shared pool, one credit each: all or none, so 403 INSUFFICIENT_CREDITS queues nothing. One bad
    number refuses the request (400). `template_id` and `variables` render a template instead of
    `message`. With `Idempotency-Key` a retry answers the first answer again."""
    _variables_check(request, body.variables)
    return await once(request, response, clients, f"u{user.user_id}", idempotency_key, body,
                      lambda seed: _send_bulk(body, user, clients, seed))


async def _send_bulk(body: BulkBody, user: Principal, clients: Clients,
                     id_seed: str) -> dict[str, object]:
    if body.media_url is None:
        _content_check(body.message, body.template_id)
    media = None if body.media_url is None else await clients.messaging.FetchMedia(
        messaging_pb2.FetchMediaRequest(user_id=user.user_id, url=body.media_url,
                                        filename=body.filename or ""))
    queued = await clients.messaging.SendBulkMessage(messaging_pb2.SendBulkMessageRequest(
        user_id=user.user_id, numbers=body.numbers, message=body.message or "",
        template_id=body.template_id or 0, variables=body.variables or {}, id_seed=id_seed,
        media=media))
    count = len(queued.queue_ids)
    return {
        "message": f"Bulk message queued successfully for {count} numbers",
        "messages_created": count,
        "remaining_credits": queued.remaining_credits,
        "queue_ids": list(queued.queue_ids),
        "job_id": queued.job_id,
    }


@router.get("/bulk/{job_id}", response_model=BulkJob)
async def bulk_job(job_id: str, user: CurrentUser, clients: ServiceClients) -> dict[str, object]:
    """A bulk request's job (the `job_id` of its reply): how many of its messages are
    queued, sending, sent, delivered, read and failed now, each counted once at its
    current status. Another user's job is 404 `NOT_FOUND`, as an unknown one."""
    job = await clients.messaging.GetBulkJob(messaging_pb2.GetBulkJobRequest(
        user_id=user.user_id, job_id=job_id[:100]))
    counts = {word.lower(): getattr(job, word.lower()) for word in STATUS_WORDS.values()}
    return {"job_id": job.job_id, "total": job.total, **counts,
            "is_complete": job.total == sum(counts[w.lower()] for w in COMPLETE),
            "created_at": iso_z(job.created_at)}


@router.post("/send-message", response_model=MessageQueued,
             responses=SEND_REFUSALS | refusals("INVALID_REQUEST", "UNSUPPORTED_BY_TRANSPORT"))
async def send_message(body: SendMessageBody, user: CurrentUser, clients: ServiceClients,
                       request: Request, response: Response,
                       idempotency_key: IdempotencyKey = None) -> Any:
    """Queue one message through the shared pool of linked numbers, for one credit; its `queue_id`
    follows it. 409 INSTANCE_NOT_CONNECTED when no pool number is linked (nothing is charged).
    `template_id` and `variables` render a template instead of `message`. With `Idempotency-Key` a
    retry answers the first answer again."""
    _variables_check(request, body.variables)
    return await once(request, response, clients, f"u{user.user_id}", idempotency_key, body,
                      lambda seed: _send_one(body, user, clients, seed))


async def _send_one(body: SendMessageBody, user: Principal, clients: Clients,
                    id_seed: str) -> dict[str, object]:
    if body.whatsapp_template is None:
        _content_check(body.message, body.template_id)
    queued = await clients.messaging.SendMessage(messaging_pb2.SendMessageRequest(
        whatsapp_template=template_json(body.whatsapp_template),
        user_id=user.user_id, number=body.number, message=body.message or "",
        template_id=body.template_id or 0, variables=body.variables or {}, id_seed=id_seed))
    return queued_answer(queued)


def queued_answer(queued: messaging_pb2.SendMessageResponse) -> dict[str, object]:
    """send-message's answer (send-media's too)."""
    return {
        "message": "Message queued successfully",
        "queue_id": queued.queue_id,
        "remaining_credits": queued.remaining_credits,
        "queue_position": queued.queue_position,
        "available_devices": queued.available_devices,
        "total_devices": queued.total_devices,
        "queue_type": queued.queue_type,
    }


@router.get("/message-status/{queue_id}", response_model=MessageStatus)
async def message_status(queue_id: str, user: CurrentUser,
                         clients: ServiceClients) -> dict[str, object]:
    """One message's status (Queued, Sending, Sent, Delivered, Read, Failed) and why it failed;
    another user's message is 404, as an unknown one."""
    found = await clients.messaging.GetMessageStatus(messaging_pb2.GetMessageStatusRequest(
        user_id=user.user_id, queue_id=queue_id[:100]))
    status = STATUS_WORDS.get(found.status, "Queued")
    return {
        "queue_id": found.queue_id,
        "number": found.number,
        "message": found.message,
        "status": status,
        "is_complete": status in COMPLETE,
        "is_error": status == "Failed",
        "error_message": found.error_message or None,
        "created_at": iso_z(found.created_at),
        "updated_at": iso_z(found.updated_at),
    }
