"""Meta's WhatsApp Business Cloud API webhook, for the device service's cloud transport.

- `GET /webhooks/whatsapp-cloud?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`:
  200 with the raw challenge when the mode is `subscribe` and T is
  `SWITCHBOARD_CLOUD_VERIFY_TOKEN`, else 403.
- `POST /webhooks/whatsapp-cloud`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
  raw body with SWITCHBOARD_CLOUD_APP_SECRET>`, compared in constant time: missing 401,
  mismatch 403. The messages of its `messages` changes (each with its sender's
  `contacts[]` entry) and then their statuses go to the device service
  (CloudWebhookService.ReportMessages, ReportStatuses); 200 once it has them, 503 while
  it is unreachable or Meta's media cannot be fetched yet (Meta then redelivers). Bodies
  with neither are acknowledged; errors Meta reports for a whole notification
  (`value.errors`) are logged and counted.
Both answer 404 while their secret is not configured.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Annotated, Any

import grpc
from fastapi import Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from gateway.deps import ServiceClients
from gateway.leanroute import api_router
from gateway.settings import GatewaySettings
from kernel.loosejson import as_int, as_object, as_objects
from switchboard.device.v1 import cloud_pb2, cloud_pb2_grpc

log = logging.getLogger(__name__)
router = api_router(prefix="/webhooks/whatsapp-cloud", tags=["whatsapp cloud"])

SIGNATURE_HEADER = "X-Hub-Signature-256"
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.RESOURCE_EXHAUSTED}


def signature_of(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(app_secret: str, body: bytes, header: str) -> bool:
    algorithm, _, digest = header.strip().partition("=")
    expected = signature_of(app_secret, body).partition("=")[2]
    return algorithm.lower() == "sha256" and hmac.compare_digest(
        expected.encode(), digest.lower().encode())


def status_message(raw: dict[str, Any], phone_number_id: str) -> cloud_pb2.CloudStatus:
    return cloud_pb2.CloudStatus(
        phone_number_id=phone_number_id, id=str(raw.get("id", "")),
        status=str(raw.get("status", "")), timestamp=as_int(raw.get("timestamp")),
        recipient_id=str(raw.get("recipient_id", "")),
        biz_opaque_callback_data=str(raw.get("biz_opaque_callback_data", "")),
        errors=[cloud_pb2.CloudStatusError(
            code=as_int(e.get("code")), title=str(e.get("title", "")),
            message=str(e.get("message", "")),
            details=str(as_object(e.get("error_data")).get("details", "")))
            for e in as_objects(raw.get("errors"))])


def statuses_in(payload: object) -> list[cloud_pb2.CloudStatus]:
    """Every `entry[].changes[].value.statuses[]` of the `messages` field."""
    found: list[cloud_pb2.CloudStatus] = []
    for value in _message_values(payload):
        number = str(as_object(value.get("metadata")).get("phone_number_id", ""))
        found.extend(status_message(s, number) for s in as_objects(value.get("statuses")))
    return found


def messages_in(payload: object) -> list[cloud_pb2.CloudMessage]:
    """Every `entry[].changes[].value.messages[]` of the `messages` field, in Meta's order,
    each with its sender's `contacts[]` entry (by wa_id or user_id; the only one else)."""
    found: list[cloud_pb2.CloudMessage] = []
    for value in _message_values(payload):
        number = str(as_object(value.get("metadata")).get("phone_number_id", ""))
        contacts = as_objects(value.get("contacts"))
        found.extend(cloud_pb2.CloudMessage(phone_number_id=number, message_json=json.dumps(m),
                                            contact_json=json.dumps(_sender(m, contacts)))
                     for m in as_objects(value.get("messages")))
    return found


def _message_values(payload: object) -> list[dict[str, Any]]:
    return [change["value"] for entry in as_objects(as_object(payload).get("entry"))
            for change in as_objects(entry.get("changes"))
            if change.get("field") == "messages" and isinstance(change.get("value"), dict)]


def _sender(message: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    for contact in contacts:
        if (contact.get("wa_id") and contact.get("wa_id") == message.get("from")) or \
                (contact.get("user_id") and contact.get("user_id") == message.get("from_user_id")):
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def errors_in(payload: object) -> list[str]:
    """Meta's webhook-level `entry[].changes[].value.errors[]` (a problem outside any one
    status, e.g. 131000 for the whole notification), as `code: details` lines."""
    found: list[str] = []
    for entry in as_objects(as_object(payload).get("entry")):
        for change in as_objects(entry.get("changes")):
            for error in as_objects(as_object(change.get("value")).get("errors")):
                said = as_object(error.get("error_data")).get("details") or error.get("title")
                found.append(f"{as_int(error.get('code'))}: {said}")
    return found


def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


@router.get("", response_class=PlainTextResponse)
async def verify_subscription(
    request: Request,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> Response:
    """Meta's subscription handshake: `hub.challenge` back when `hub.verify_token` matches
    SWITCHBOARD_CLOUD_VERIFY_TOKEN, else 403."""
    expected = _settings(request).cloud_verify_token
    if not expected:
        return PlainTextResponse("Not Found", status_code=404)
    if mode == "subscribe" and challenge is not None and hmac.compare_digest(
            (token or "").encode(), expected.encode()):
        return PlainTextResponse(challenge)
    return PlainTextResponse("Forbidden", status_code=403)


@router.post("")
async def receive_notification(request: Request, clients: ServiceClients) -> Response:
    """Meta's signed notification (X-Hub-Signature-256): message statuses and inbound messages are
    handed to the device service; 503 with Retry-After while it cannot take them."""
    app_secret = _settings(request).cloud_app_secret
    if not app_secret:
        return PlainTextResponse("Not Found", status_code=404)
    body = await request.body()
    header = request.headers.get(SIGNATURE_HEADER)
    if not header:
        return PlainTextResponse("Missing signature", status_code=401)
    if not signature_matches(app_secret, body, header):
        return PlainTextResponse("Invalid signature", status_code=403)
    try:
        payload = json.loads(body)
    except ValueError:
        return PlainTextResponse("Malformed JSON body", status_code=400)
    errors = errors_in(payload)
    for error in errors:
        log.warning("cloud webhook: Meta reported an error: %s", error)
    messages, statuses = messages_in(payload), statuses_in(payload)
    answer: dict[str, int] = {"messages": len(messages), "statuses": len(statuses),
                              "errors": len(errors)}
    try:
        answer.update(await _forward(clients, messages, statuses))
    except grpc.aio.AioRpcError as exc:
        status = 503 if exc.code() in RETRYABLE else 500
        return PlainTextResponse("Not recorded, retry later", status_code=status,
                                 headers={"Retry-After": "1"} if status == 503 else None)
    return JSONResponse(answer)


async def _forward(clients: ServiceClients, messages: list[cloud_pb2.CloudMessage],
                   statuses: list[cloud_pb2.CloudStatus]) -> dict[str, int]:
    """Hand both to the device service: what it recorded, counted."""
    stub = cloud_pb2_grpc.CloudWebhookServiceStub(clients.channels["device"])
    counted: dict[str, int] = {}
    if messages:  # media is fetched on the way: a longer wait
        reply = await stub.ReportMessages(
            cloud_pb2.ReportMessagesRequest(messages=messages), timeout=30.0)
        counted["received"] = reply.received
    if statuses:
        tally = await stub.ReportStatuses(
            cloud_pb2.ReportStatusesRequest(statuses=statuses), timeout=10.0)
        counted.update(receipts=tally.receipts, duplicates=tally.duplicates,
                       failed=tally.failed, ignored=tally.ignored)
    return counted
