"""Both APIs' send-media requests: a JSON body naming the file by URL, or a multipart form
with the file itself (`file`) and the other fields beside it. The file is made a stored
`MediaAttachment` before anything is charged: an upload is checked (type and size as
WhatsApp takes them) and stored here; a URL is fetched by the messaging service
(`FetchMedia`, behind the webhooks' address guard). Either way a refusal answers now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from gateway.clients import Clients
from gateway.errors import ApiError
from gateway.text import RequestBody
from kernel.errors import DomainError
from kernel.media import MediaStore, accept, digest, guess_mime
from switchboard.messaging.v1 import events_pb2, messaging_pb2

# The routes whose bodies may be as large as SWITCHBOARD_MEDIA_MAX_BYTES (gateway/bodylimit.py).
MEDIA_ROUTES = ("/api/messages/send-media", "/api/v1/whatsapp/send-media")
FORM_OVERHEAD = 64 * 1024  # the form's other fields and part headers, beyond the file
MULTIPART = "multipart/form-data"
B = TypeVar("B", bound=RequestBody)


def media_body_limits(max_bytes: int) -> dict[str, int]:
    """The send-media routes' body limit: the largest file and the form around it."""
    return dict.fromkeys(MEDIA_ROUTES, max_bytes + FORM_OVERHEAD)


@dataclass(frozen=True)
class Upload:
    content: bytes
    content_type: str
    filename: str


@dataclass(frozen=True)
class MediaRequest(Generic[B]):
    fields: B
    upload: Upload | None

    def fingerprinted(self) -> BaseModel:
        """What an Idempotency-Key's fingerprint covers: the fields and the file's hash."""
        return Fingerprint(fields=self.fields.model_dump(mode="json"),
                           file="" if self.upload is None else digest(self.upload.content))


class Fingerprint(BaseModel):
    fields: dict[str, Any]
    file: str


async def read_media_request(request: Request, model: type[B],
                             url_field: str) -> MediaRequest[B]:
    """The fields (validated by `model`, unknown ones refused) and the uploaded file; 400
    INVALID_REQUEST unless exactly one of a file and `url_field` is given."""
    if request.headers.get("content-type", "").lower().startswith(MULTIPART):
        fields, upload = await _form(request)
    else:
        fields, upload = await _json(request), None
    try:
        parsed = model.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    if (upload is None) == (getattr(parsed, url_field) is None):
        alias = model.model_fields[url_field].alias or url_field
        raise ApiError("INVALID_REQUEST", f"Give the media either as a URL ({alias}, JSON) "
                                          "or as a file (the multipart part `file`), not "
                                          "both or neither")
    return MediaRequest(parsed, upload)


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise ApiError("INVALID_REQUEST", "Malformed JSON body") from exc


async def _form(request: Request) -> tuple[dict[str, str], Upload | None]:
    try:
        form = await request.form(max_files=1, max_fields=16)
    except (AssertionError, ValueError) as exc:  # malformed or over the part limits
        raise ApiError("INVALID_REQUEST", f"Malformed multipart body: {exc}") from exc
    fields: dict[str, str] = {}
    upload = None
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name != "file":
                raise ApiError("INVALID_REQUEST", f"Unknown file part: {name}")
            content = await value.read()
            upload = Upload(content, guess_mime(value.content_type or "", value.filename or ""),
                            value.filename or "")
        elif name in fields:
            raise ApiError("INVALID_REQUEST", f"Field given twice: {name}")
        else:
            fields[name] = value
    await form.close()
    return fields, upload


async def attachment(clients: Clients, store: MediaStore, max_bytes: int, user_id: int,
                     url: str | None, filename: str | None,
                     upload: Upload | None) -> events_pb2.MediaAttachment:
    """The stored file: the upload checked and stored here, or the URL fetched by the
    messaging service. UNSUPPORTED_MEDIA_TYPE, MEDIA_TOO_LARGE, MEDIA_URL_REFUSED,
    MEDIA_FETCH_FAILED: nothing is charged."""
    if upload is None:
        return await clients.messaging.FetchMedia(messaging_pb2.FetchMediaRequest(
            user_id=user_id, url=url or "", filename=filename or ""))
    try:
        ref, kind = await accept(store, upload.content, upload.content_type, max_bytes)
    except DomainError as exc:
        raise ApiError(exc.code, exc.message) from exc
    return events_pb2.MediaAttachment(sha256=ref.sha256, mime_type=ref.mime_type,
                                      size_bytes=ref.size, kind=kind,
                                      filename=(filename or upload.filename)[:255])


def media_summary(media: events_pb2.MediaAttachment) -> dict[str, object]:
    """The file as the answers show it."""
    return {"sha256": media.sha256, "type": media.kind, "mime_type": media.mime_type,
            "size_bytes": media.size_bytes, "filename": media.filename}


def openapi_body(model: type[BaseModel], caption_field: str, number_field: str
                 ) -> dict[str, Any]:
    """The request body as OpenAPI shows it: the JSON model, or the multipart form."""
    form_fields = {name: {"type": "string"} for name in (number_field, caption_field,
                                                         "filename")}
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema(by_alias=True)},
        MULTIPART: {"schema": {
            "type": "object", "required": ["file", number_field],
            "properties": {"file": {"type": "string", "format": "binary"}, **form_fields}}},
    }}}
