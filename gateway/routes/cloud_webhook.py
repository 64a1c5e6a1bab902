"""Meta's WhatsApp Business Cloud API webhook, for the device service's cloud transport.

- `GET /webhooks/whatsapp-cloud?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`:
  200 with the raw challenge when the mode is `subscribe` and T is
  `SWITCHBOARD_CLOUD_VERIFY_TOKEN`, else 403.
- `POST /webhooks/whatsapp-cloud`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the
  raw body with SWITCHBOARD_CLOUD_APP_SECRET>`, compared in constant time: missing 401,
  mismatch 403. The statuses of its `messages` changes go to the device service
  (CloudWebhookService.ReportStatuses); 200 once it has them, 503 while it is
  unreachable (Meta then redelivers). Bodies without statuses are acknowledged; errors
  Meta reports for a whole notification (`value.errors`) are logged and counted.
Both answer 404 while their secret is not configured.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from gateway.deps import ServiceClients
from gateway.settings import GatewaySettings
from kernel.loosejson import as_int, as_object, as_objects
from switchboard.device.v1 import cloud_pb2, cloud_pb2_grpc

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/whatsapp-cloud", tags=["webhooks"])

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
    for entry in as_objects(as_object(payload).get("entry")):
        for change in as_objects(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            number = str(as_object(value.get("metadata")).get("phone_number_id", ""))
            found.extend(status_message(s, number) for s in as_objects(value.get("statuses")))
    return found


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
    expected = _settings(request).cloud_verify_token
    if not expected:
        return PlainTextResponse("Not Found", status_code=404)
    if mode == "subscribe" and challenge is not None and hmac.compare_digest(
            (token or "").encode(), expected.encode()):
        return PlainTextResponse(challenge)
    return PlainTextResponse("Forbidden", status_code=403)


@router.post("")
async def receive_notification(request: Request, clients: ServiceClients) -> Response:
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
    statuses, errors = statuses_in(payload), errors_in(payload)
    for error in errors:
        log.warning("cloud webhook: Meta reported an error: %s", error)
    if not statuses:
        return JSONResponse({"statuses": 0, "errors": len(errors)})
    stub = cloud_pb2_grpc.CloudWebhookServiceStub(clients.channels["device"])
    try:
        tally = await stub.ReportStatuses(
            cloud_pb2.ReportStatusesRequest(statuses=statuses), timeout=10.0)
    except grpc.aio.AioRpcError as exc:
        status = 503 if exc.code() in RETRYABLE else 500
        return PlainTextResponse("Statuses not recorded, retry later", status_code=status,
                                 headers={"Retry-After": "1"} if status == 503 else None)
    return JSONResponse({"statuses": len(statuses), "errors": len(errors),
                         "receipts": tally.receipts,
                         "duplicates": tally.duplicates, "failed": tally.failed,
                         "ignored": tally.ignored})
