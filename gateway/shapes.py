"""The answers of the Messaging API (seed 002 and docs/api.md), as the OpenAPI document
declares them: each route names its model (`response_model`), and its refusals in the
error envelope (`refusals`), so the document states the shapes the routes really send.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from gateway.codes import HTTP_STATUS

ZTime = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
                             examples=["2025-06-03T10:30:00Z"])]
NaiveTime = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$",
                                 examples=["2025-06-01T10:00:00"])]
StatusWord = Literal["Queued", "Sending", "Sent", "Delivered", "Read", "Failed"]
DeviceWord = Literal["Connected", "Disconnected", "AwaitingScan", "Banned", "Failed"]
PhoneNumber = Annotated[str, Field(min_length=1, max_length=32,
                                   pattern=r"^\+?[0-9 ()-]+$", examples=["27821234567"])]

NOTES = {
    400: "missing or invalid parameters, malformed JSON, an unknown field",
    413: "the body is over the limit, refused before it is read",
    429: "with Retry-After",
    503: "a service is unreachable, with Retry-After",
}
ALWAYS = (400, 413, 429, 500, 503)
DEFAULT_CODES = {400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN",
                 404: "NOT_FOUND", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
                 429: "RATE_LIMITED", 500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE"}
EXAMPLE_MESSAGES = {
    "INVALID_REQUEST": "Unknown field: media_url",
    "UNSUPPORTED_BY_TRANSPORT": "WhatsApp templates need the cloud transport (Meta's Cloud "
                                "API); this server sends through simulator. Nothing was "
                                "charged.",
    "UNAUTHORIZED": "Missing or invalid authentication token",
    "INVALID_CREDENTIALS": "Invalid or revoked API credentials",
    "FORBIDDEN": "Administrator privileges required",
    "INSUFFICIENT_CREDITS": "Not enough credits to send message. Required: 1, Available: 0",
    "QUOTA_EXCEEDED": "Monthly message quota exceeded. Required: 1, Remaining: 0",
    "NOT_FOUND": "Not found",
    "CONFLICT": "Idempotency-Key was used with another request",
    "ALREADY_CONNECTED": "WhatsApp instance is already connected",
    "INSTANCE_NOT_CONNECTED": "WhatsApp instance is not connected. Scan QR code first.",
    "PAYLOAD_TOO_LARGE": "Request body is larger than 1048576 bytes",
    "RATE_LIMITED": "Rate limit exceeded, retry in 12 seconds",
    "INTERNAL_ERROR": "Internal server error",
    "SERVICE_UNAVAILABLE": "Service temporarily unavailable, retry shortly",
}


class ErrorBody(BaseModel):
    """The Messaging API's error envelope."""

    error: str = Field(description="The API code (docs/api.md), e.g. NOT_FOUND")
    message: str
    code: int = Field(description="The HTTP status")

    unauthorized: ClassVar[str] = "UNAUTHORIZED"

    @classmethod
    def example(cls, code: str, status: int) -> dict[str, Any]:
        return {"error": code, "message": EXAMPLE_MESSAGES.get(code, code), "code": status}


def refusals(*answers: int | str, model: type[ErrorBody] | Any = ErrorBody
             ) -> dict[int | str, Any]:
    """`responses=` for a router or route: what it may refuse, as statuses (their usual
    code: 403 FORBIDDEN, 409 CONFLICT) or API codes (INSUFFICIENT_CREDITS, ...), and the
    statuses every route may answer (bad input, body too large, rate limit, a service
    down), in `model`'s envelope, each with an example per code."""
    return {status: {"model": model, **refusal(status, words, model)}
            for status, words in _by_status(answers, model).items()}


def json_refusals(*answers: int | str) -> dict[int | str, Any]:
    """`refusals` of a route whose success is not JSON (an event stream): its refusals
    are still the JSON envelope, so they name their media type themselves."""
    schema = {"$ref": "#/components/schemas/ErrorBody"}
    shown: dict[int | str, Any] = {}
    for status, words in _by_status(answers, ErrorBody).items():
        shown[status] = refusal(status, words, ErrorBody)
        shown[status]["content"]["application/json"]["schema"] = schema
    return shown


def refusal(status: int, words: list[str], model: Any) -> dict[str, Any]:
    """One status's description, and its codes for gateway/openapi.py to show an example
    of each (there: FastAPI's document drops the null of the Instance API's `data`)."""
    note = f": {NOTES[status]}" if status in NOTES else ""
    return {"description": " or ".join(words) + note, "x-codes": words,
            "content": {"application/json": {}}}


def _by_status(answers: tuple[int | str, ...], model: Any) -> dict[int, list[str]]:
    words: dict[int, list[str]] = {status: [] for status in (*ALWAYS, *(
        a for a in answers if isinstance(a, int)))}
    for answer in answers:
        if isinstance(answer, str):
            words.setdefault(HTTP_STATUS[answer], []).append(answer)
    for status in ALWAYS:  # every route may answer these with their usual code
        words[status].append(default_code(status, model))
    return {status: sorted(set(found)) or [default_code(status, model)]
            for status, found in sorted(words.items())}


def default_code(status: int, model: Any) -> str:
    """The code a status stands for when a route names no other (else the first code of
    that status in gateway/codes.py's table)."""
    if status == 401:
        return str(model.unauthorized)
    return DEFAULT_CODES.get(status) or next(
        (code for code, known in HTTP_STATUS.items() if known == status), "INTERNAL_ERROR")


class Pagination(BaseModel):
    page: int
    per_page: int
    total: int
    pages: int


class Registered(BaseModel):
    message: str
    user_id: int


class SignedIn(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    user_id: int
    username: str
    credits: int
    is_admin: bool


class MessageQueued(BaseModel):
    message: str
    queue_id: str
    remaining_credits: int
    queue_position: int
    available_devices: int
    total_devices: int
    queue_type: str


class BulkQueued(BaseModel):
    message: str
    messages_created: int
    remaining_credits: int
    queue_ids: list[str]
    job_id: str = Field(description="The bulk job: GET /api/messages/bulk/{job_id}",
                        examples=["bulk_3f2a9c1b7d4e8f60a1b2c3d4"])


class BulkJob(BaseModel):
    """A bulk request's messages, each counted once at its current status."""

    job_id: str
    total: int
    queued: int
    sending: int
    sent: int
    delivered: int
    read: int
    failed: int
    is_complete: bool = Field(description="every message sent, delivered, read or failed")
    created_at: ZTime | None


class MessageStatus(BaseModel):
    queue_id: str
    number: str
    message: str
    status: StatusWord
    is_complete: bool
    is_error: bool
    error_message: str | None
    created_at: ZTime | None
    updated_at: ZTime | None


class MessageItem(BaseModel):
    queue_id: str
    number: str
    message: str
    status: StatusWord
    created_at: ZTime | None


class MessagePage(BaseModel):
    messages: list[MessageItem]
    pagination: Pagination


class Credits(BaseModel):
    credits: int
    username: str


class Profile(BaseModel):
    id: int
    username: str
    email: str | None
    credits: int
    is_admin: bool
    created_at: NaiveTime | None


class InstanceDoc(BaseModel):
    instance_id: str
    id: int
    instance_name: str
    public_key: str
    created_at: NaiveTime | None


class InstanceCredentials(BaseModel):
    message: str
    instance_id: str
    id: int
    instance_name: str
    public_key: str
    created_at: NaiveTime | None
    secret_key: str


class InstancePage(BaseModel):
    instances: list[InstanceDoc]
    pagination: Pagination


class InstanceDeleted(BaseModel):
    message: str
    instance_id: str


class InstanceControlled(BaseModel):
    message: str
    instance_id: str
    status: DeviceWord
    is_connected: bool


class PairingCodeIssued(BaseModel):
    message: str
    instance_id: str
    pairing_code: str = Field(pattern=r"^[1-9A-HJ-NP-TV-Z]{8}$", examples=["K7WQ2RPX"])
    expires_at: ZTime | None
    expires_in: int


class NumberOnWhatsApp(BaseModel):
    number: str
    on_whatsapp: bool | None


class NumbersChecked(BaseModel):
    numbers: list[NumberOnWhatsApp]


class UserDoc(BaseModel):
    id: int
    username: str
    email: str | None
    notification_number: str | None
    credits: int
    is_admin: bool
    disabled: bool
    created_at: NaiveTime | None


class UserPage(BaseModel):
    users: list[UserDoc]
    pagination: Pagination


class CreditsGranted(BaseModel):
    message: str
    user_id: int
    credits: int


class AnyInstanceDoc(InstanceDoc):
    user_id: int


class AnyInstancePage(BaseModel):
    instances: list[AnyInstanceDoc]
    pagination: Pagination


class TemplateDoc(BaseModel):
    id: int
    name: str
    body: str
    variables: list[str]
    created_at: ZTime | None
    updated_at: ZTime | None


class TemplateSaved(BaseModel):
    message: str
    template: TemplateDoc


class TemplateList(BaseModel):
    templates: list[TemplateDoc]


class TemplateDeleted(BaseModel):
    message: str
    template_id: int


class WebhookDoc(BaseModel):
    webhook_id: str
    url: str
    created_at: ZTime | None


class WebhookCreated(WebhookDoc):
    secret: str


class WebhookList(BaseModel):
    webhooks: list[WebhookDoc]


class WebhookDeleted(BaseModel):
    message: str
    webhook_id: str


class Delivery(BaseModel):
    delivery_id: str
    event_id: str
    queue_id: str
    status: str
    state: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: ZTime | None
    created_at: ZTime | None
    delivered_at: ZTime | None


class DeliveryList(BaseModel):
    deliveries: list[Delivery]
