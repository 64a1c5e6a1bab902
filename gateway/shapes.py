"""The answers of the Messaging API (seed 002 and docs/api.md), as the OpenAPI document
declares them: each route names its model (`response_model`), and its refusals in the
error envelope (`refusals`), so the document states the shapes the routes really send.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

ZTime = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
                             examples=["2025-06-03T10:30:00Z"])]
NaiveTime = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$",
                                 examples=["2025-06-01T10:00:00"])]
StatusWord = Literal["Queued", "Sending", "Sent", "Delivered", "Read", "Failed"]
DeviceWord = Literal["Connected", "Disconnected", "AwaitingScan", "Banned", "Failed"]
PhoneNumber = Annotated[str, Field(min_length=1, max_length=32,
                                   pattern=r"^\+?[0-9 ()-]+$", examples=["27821234567"])]

REFUSALS = {
    400: "INVALID_REQUEST: missing or invalid parameters, malformed JSON",
    401: "UNAUTHORIZED (INVALID_CREDENTIALS on the Instance API)",
    403: "INSUFFICIENT_CREDITS, QUOTA_EXCEEDED or FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT, ALREADY_CONNECTED or INSTANCE_NOT_CONNECTED",
    413: "PAYLOAD_TOO_LARGE: the body is over the limit, refused before it is read",
    429: "RATE_LIMITED, with Retry-After",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE, with Retry-After",
}
ALWAYS = (400, 413, 429, 500, 503)


class ErrorBody(BaseModel):
    """The Messaging API's error envelope."""

    error: str = Field(examples=["INSUFFICIENT_CREDITS"])
    message: str
    code: int = Field(examples=[403])


def refusals(*codes: int, model: type[BaseModel] = ErrorBody) -> dict[int | str, Any]:
    """`responses=` for a router or route: these statuses and the ones every route may
    answer (bad input, body too large, rate limit, a service down), in `model`."""
    return {code: {"model": model, "description": REFUSALS[code]}
            for code in sorted({*codes, *ALWAYS})}


def json_refusals(*codes: int) -> dict[int | str, Any]:
    """`refusals` of a route whose success is not JSON (an event stream): its refusals
    are still the JSON envelope, so they name their media type themselves."""
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {code: {"description": REFUSALS[code], "content": envelope}
            for code in sorted({*codes, *ALWAYS})}


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
