"""A stand-in for Meta's WhatsApp Business Cloud API, served over real HTTP on 127.0.0.1.

It answers as the Graph API documents (shared/reference/cloud-api-and-reliability.md A):
- `POST /{version}/{phone_number_id}/messages`: checks the Bearer token (else 401,
  OAuthException 190), the version and the number (else 400, code 100), the JSON body
  (`messaging_product`, `to`, a `text.body` or a known `template` with its parameter
  count: 131008 / 131009 / 132001 / 132000), then answers `contacts` + `messages[0].id`
  (a wamid; `message_status: accepted` for templates);
- `POST /{version}/{phone_number_id}/media`, multipart `messaging_product`, `type` and
  `file`: checks the MIME type and size against Meta's supported media (else 400, code
  131053), keeps the file and answers `{"id": <media id>}`; a message of type image,
  video, audio or document then names it by `id` (an unknown id is 400, 131053; a caption
  on audio or over 1024 characters is 131009);
- `GET /{version}/{phone_number_id}`: `display_phone_number`, `verified_name`, `id`;
- `GET /{version}/{media_id}` of media a user sent: `url`, `mime_type`, `sha256` (hex),
  `file_size`, `id`, `messaging_product`; the `url` (Meta's lookaside path, bearer token
  required) answers the file with its Content-Type; an unknown media id is error 100;
- scripted answers for the next requests: a Graph error body with its HTTP status, or a
  hang-up after the request was read (the "no answer" case);
and, as Meta's webhook sender, builds message notifications in Meta's shapes (the
sender's `contacts[]` entry with `profile.name`, `wa_id` and the BSUID `user_id`; media
by id), and POSTs notifications signed with
`X-Hub-Signature-256` over the raw body, and runs the GET verification handshake.
A plain asyncio HTTP/1.1 server (keep-alive, Content-Length bodies) so that it can hang up.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

TEMPLATES = {("order_update", "en_US"): 2, ("hello_world", "en_US"): 0}
MB = 1024 * 1024
MEDIA_KINDS = {  # Meta's supported media: the MIME types and the largest file of each
    "image": ({"image/jpeg", "image/png"}, 5 * MB),
    "video": ({"video/mp4", "video/3gpp"}, 16 * MB),
    "audio": ({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}, 16 * MB),
    "document": ({"text/plain", "application/pdf", "application/msword",
                  "application/vnd.ms-excel", "application/vnd.ms-powerpoint"}, 100 * MB)}
VERSION = re.compile(r"^v\d+\.\d+$")
LOOKASIDE = "whatsapp_business/attachments/"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Script:
    status: int = 0
    error: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    hang_up: bool = False


def graph_error(code: int, message: str, details: str = "", kind: str = "OAuthException",
                **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "type": kind, "code": code,
                            "fbtrace_id": "A" + secrets.token_hex(8), **extra}
    if details:
        body["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": body}


class FakeCloudApi:
    def __init__(self, token: str, numbers: dict[str, str]) -> None:
        self.token = token
        self.numbers = numbers  # phone number id -> display number
        self.seen: list[Seen] = []
        self.accepted: list[dict[str, Any]] = []  # each with its "wamid"
        self.scripts: list[Script] = []
        self.media: dict[str, tuple[bytes, str]] = {}  # media id -> (file, MIME type)
        self.cut_short: set[str] = set()  # media ids whose download breaks off early
        self.uploads: list[str] = []  # media ids of POST /{phone_number_id}/media
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):  # keep-alive connections end at EOF
                writer.close()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

    def fail_next(self, status: int, code: int, message: str, details: str = "",
                  retry_after: str = "", **extra: Any) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.scripts.append(Script(status, graph_error(code, message, details, **extra),
                                   headers))

    def hang_up_next(self) -> None:
        self.scripts.append(Script(hang_up=True))

    # HTTP

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while (request := await _read_request(reader)) is not None:
                method, target, headers, raw = request
                self.seen.append(Seen(method, target, headers, _json_or_raw(raw)))
                if self.scripts and self.scripts[0].hang_up:
                    self.scripts.pop(0)
                    break
                status, body, extra = self._answer(method, target, headers, raw)
                writer.write(_response(status, body, extra))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)
            self._handlers.discard(task)

    def _answer(self, method: str, target: str, headers: dict[str, str],
                raw: bytes) -> tuple[int, Any, dict[str, str]]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, graph_error(190, "Invalid OAuth access token - Cannot parse access "
                                         "token"), {}
        if self.scripts:
            script = self.scripts.pop(0)
            return script.status, script.error, script.headers
        path, _, query = target.partition("?")
        parts = path.strip("/").split("/")
        if method == "GET" and path.endswith(LOOKASIDE):
            return self._file(query)
        if method == "GET" and len(parts) == 2 and VERSION.match(parts[0]) \
                and parts[1] in self.media:
            return self._media_url(parts[1])
        if len(parts) < 2 or not VERSION.match(parts[0]) or parts[1] not in self.numbers:
            return 400, graph_error(100, f"Unsupported {method.lower()} request. Object with "
                                         f"ID '{parts[-1]}' does not exist", error_subcode=33,
                                    kind="GraphMethodException"), {}
        if method == "GET" and len(parts) == 2:
            return 200, {"verified_name": "Switchboard Test", "id": parts[1],
                         "display_phone_number": self.numbers[parts[1]]}, {}
        if method == "POST" and parts[2:] == ["messages"]:
            return self._message(json.loads(raw or b"null"))
        if method == "POST" and parts[2:] == ["media"]:
            return self._upload(headers.get("content-type", ""), raw)
        return 400, graph_error(100, "Unknown path components", kind="OAuthException"), {}

    def _message(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        problem = _problem(body)
        if problem is None and body["type"] in MEDIA_KINDS \
                and body[body["type"]].get("id") not in self.media:
            problem = 131053, "(#131053) Media upload error: unknown media id"
        if problem is not None:
            return 400, graph_error(*problem), {}
        wamid = "wamid.HBgL" + secrets.token_hex(12).upper()
        self.accepted.append({**body, "wamid": wamid})
        answer: dict[str, Any] = {"id": wamid}
        if body["type"] == "template":
            answer["message_status"] = "accepted"
        to = body["to"]
        return 200, {"messaging_product": "whatsapp",
                     "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                     "messages": [answer]}, {}

    def _upload(self, content_type: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        """`POST /{phone_number_id}/media`: the file kept under a new media id."""
        parts = email.message_from_bytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw, policy=email.policy.HTTP)
        form = {part.get_param("name", header="content-disposition"): part
                for part in parts.iter_parts()}
        if "file" not in form or _text(form.get("messaging_product")) != "whatsapp":
            return 400, graph_error(100, "(#100) The parameter messaging_product is "
                                         "required."), {}
        data, mime = form["file"].get_payload(decode=True), _text(form.get("type"))
        limit = next((size for types, size in MEDIA_KINDS.values() if mime in types), 0)
        if not 0 < len(data) <= limit:
            return 400, graph_error(131053, "(#131053) Media upload error", details=(
                f"{mime} of {len(data)} bytes is not a supported media file")), {}
        media_id = str(secrets.randbelow(10**15) + 10**15)
        self.media[media_id] = (data, mime)
        self.uploads.append(media_id)
        return 200, {"id": media_id}, {}

    def _file(self, query: str) -> tuple[int, Any, dict[str, str]]:
        """The lookaside URL: the file itself."""
        media_id = dict(p.partition("=")[::2] for p in query.split("&")).get("mid", "")
        found = self.media.get(media_id)
        if found is None:
            return 404, graph_error(100, "Media not found", kind="GraphMethodException"), {}
        data = found[0][:len(found[0]) // 2] if media_id in self.cut_short else found[0]
        return 200, data, {"Content-Type": found[1]}

    def _media_url(self, media_id: str) -> tuple[int, Any, dict[str, str]]:
        data, mime = self.media[media_id]
        return 200, {"url": f"{self.url}/{LOOKASIDE}?mid={media_id}&ext={secrets.token_hex(4)}"
                            f"&hash={secrets.token_urlsafe(12)}",
                     "mime_type": mime, "sha256": hashlib.sha256(data).hexdigest(),
                     "file_size": len(data), "id": media_id,
                     "messaging_product": "whatsapp"}, {}

    # A WhatsApp user's side

    def upload_from_user(self, data: bytes, mime: str) -> dict[str, Any]:
        """A file a user sent, as the webhook names it (id, MIME type, base64 sha256)."""
        media_id = str(secrets.randbelow(10**15) + 10**15)
        self.media[media_id] = (data, mime)
        return {"mime_type": mime, "id": media_id,
                "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode()}

    @staticmethod
    def user_message(kind: str, body: Any, sender: str = "447700900456", at: int = 0,
                     **extra: Any) -> dict[str, Any]:
        """One `messages[]` entry as Meta sends it (`body` under the type's key)."""
        message: dict[str, Any] = {"from": sender, "id": "wamid.HBgM" + secrets.token_hex(14)
                                   .upper(), "timestamp": str(at or 1_717_400_000),
                                   "type": kind, **extra}
        if body is not None:
            message[kind] = body
        return message

    @staticmethod
    def inbound(phone_number_id: str, messages: list[dict[str, Any]],
                contacts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A notification of messages users sent, each sender's contact beside them."""
        if contacts is None:
            contacts = [{"profile": {"name": "Ann"}, "wa_id": m["from"],
                         "user_id": "GB.1" + m["from"]} for m in messages if "from" in m]
        return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
                "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550100000",
                                 "phone_number_id": phone_number_id},
                    "contacts": contacts, "messages": messages}}]}]}

    # Meta as the webhook sender

    @staticmethod
    def notification(phone_number_id: str, statuses: list[dict[str, Any]]) -> dict[str, Any]:
        return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
                "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550100000",
                                 "phone_number_id": phone_number_id},
                    "statuses": statuses}}]}]}

    @staticmethod
    def status(wamid: str, status: str, at: int, tracker: str = "",
               recipient: str = "15550199", **extra: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(at),
                                 "recipient_id": recipient,
                                 "conversation": {"id": "c1", "origin": {"type": "service"}},
                                 "pricing": {"billable": True, "pricing_model": "CBP",
                                             "category": "service"}, **extra}
        if tracker:
            entry["biz_opaque_callback_data"] = tracker
        return entry

    async def deliver(self, url: str, payload: Any, app_secret: str,
                      signature: str | None = None) -> httpx.Response:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": b"application/json"}
        if signature != "":
            headers["X-Hub-Signature-256"] = (signature or sign(app_secret, raw)).encode()
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, content=raw, headers=headers)


def sign(app_secret: str, raw: bytes) -> str:
    """X-Hub-Signature-256 as Meta computes it: HMAC-SHA256 of the raw body, in hex."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def _problem(body: Any) -> tuple[int, str] | None:
    """What Meta would refuse in a message body: (code, message)."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return 100, "(#100) The parameter messaging_product is required."
    if not re.fullmatch(r"\+?\d{6,15}", str(body.get("to", ""))):
        return 131009, "(#131009) Parameter value is not valid"
    if body.get("type") == "text":
        text = body.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("body"), str) \
                or not 0 < len(text["body"]) <= 4096:
            return 131008, "(#131008) Required parameter is missing"
        return None
    if body.get("type") == "template":
        return _template_problem(body.get("template"))
    if body.get("type") in MEDIA_KINDS:
        return _media_problem(body["type"], body.get(body["type"]))
    return 131009, "(#131009) Parameter value is not valid"


def _media_problem(kind: str, media: Any) -> tuple[int, str] | None:
    if not isinstance(media, dict) or not ("id" in media or "link" in media):
        return 131008, "(#131008) Required parameter is missing"
    caption = media.get("caption")
    if caption is not None and (kind == "audio" or len(str(caption)) > 1024):
        return 131009, "(#131009) Parameter value is not valid"
    return None


def _text(part: Any) -> str:
    return "" if part is None else str(part.get_content()).strip()


def _template_problem(template: Any) -> tuple[int, str] | None:
    if not isinstance(template, dict) or "name" not in template \
            or not isinstance(template.get("language"), dict) \
            or "code" not in template["language"]:
        return 131008, "(#131008) Required parameter is missing"
    key = (template["name"], template["language"]["code"])
    if key not in TEMPLATES:
        return 132001, "(#132001) Template name does not exist in the translation"
    given = sum(len(c.get("parameters", [])) for c in template.get("components", [])
                if c.get("type") == "body")
    if given != TEMPLATES[key]:
        return 132000, "(#132000) Number of parameters does not match the expected number " \
                       "of params"
    return None


async def _read_request(reader: asyncio.StreamReader
                        ) -> tuple[str, str, dict[str, str], bytes] | None:
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    if not head:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    return method, target, headers, raw


def _json_or_raw(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw


def _response(status: int, body: Any, headers: dict[str, str]) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    kind = headers.pop("Content-Type", "application/json; charset=UTF-8")
    lines = [f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}",
             f"Content-Type: {kind}", f"Content-Length: {len(data)}",
             *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode() + data
