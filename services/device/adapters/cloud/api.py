"""Meta's WhatsApp Business Cloud API over HTTPS: the message bodies, the send call with
its bounded retries, and the phone number lookup that activates a device.

`POST {base}/{version}/{phone_number_id}/messages` with `Authorization: Bearer <token>`;
a 200 carries `messages[0].id`, the wamid (accepted, not yet sent: statuses come by
webhook). Every body carries `biz_opaque_callback_data` = our transport message id,
which Meta echoes on each status webhook.

Retries: only where Meta surely did not take the message — a connection that never
carried the request, or an error answer classed TRANSIENT (errors.py) — with
exponential backoff, and only while the next try still fits in `RetryPolicy.budget`
(kept under the dispatcher's timeout for one attempt: past it, the failure goes back to
the dispatcher's own backoff rather than failing a message that was never sent). Rate
limits (PACED) go back at once, with Meta's wait. A request that went out and got no
answer (read timeout, dropped connection) is never repeated — OutcomeUnknownError —
except once when it went out on a kept-alive connection that the far side had just
closed (it died before any answer, and no new connection was opened for it): the
classic stale keep-alive race, tried again on a fresh connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.device.adapters.cloud.errors import CloudUnavailableError, GraphError, Handling
from services.device.adapters.send_ledger import OutcomeUnknownError
from services.device.app.transport import digits
from services.device.domain.commands import MediaFile

Sleep = Callable[[float], Awaitable[None]]

# The request never reached Meta, so repeating it cannot send the message twice.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError,
            httpx.WriteTimeout, httpx.LocalProtocolError, httpx.UnsupportedProtocol)


@dataclass(frozen=True)
class Template:
    """A template send: Meta's `template` object (name, language, components)."""

    name: str
    language: str = "en_US"
    body_parameters: Sequence[str] = ()
    components: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    @classmethod
    def of(cls, meta: Mapping[str, Any]) -> Template:
        """From Meta's own `template` object (`name`, `language.code`, `components`)."""
        language = meta.get("language")
        code = language.get("code") if isinstance(language, Mapping) else language
        return cls(str(meta.get("name", "")), str(code or "en_US"),
                   components=tuple(meta.get("components") or ()))


def text_message(to: str, body: str, tracker: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": digits(to), "type": "text",
            "text": {"preview_url": False, "body": body},
            "biz_opaque_callback_data": tracker}


def media_message(to: str, media_id: str, media: MediaFile, caption: str,
                  tracker: str) -> dict[str, Any]:
    """A media message by the id `POST /{phone_number_id}/media` gave the file: `type` is
    image, video, audio or document; audio has no caption, a document shows its name."""
    body: dict[str, Any] = {"id": media_id}
    if caption and media.kind != "audio":
        body["caption"] = caption
    if media.kind == "document" and media.filename:
        body["filename"] = media.filename
    return {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": digits(to), "type": media.kind, media.kind: body,
            "biz_opaque_callback_data": tracker}


def template_message(to: str, template: Template, tracker: str) -> dict[str, Any]:
    components = [dict(c) for c in template.components]
    if template.body_parameters:
        components.append({"type": "body", "parameters": [
            {"type": "text", "text": value} for value in template.body_parameters]})
    body: dict[str, Any] = {"name": template.name,
                            "language": {"code": template.language, "policy": "deterministic"}}
    if components:
        body["components"] = components
    return {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": digits(to), "type": "template", "template": body,
            "biz_opaque_callback_data": tracker}


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base: float = 0.5
    cap: float = 30.0
    budget: float = 15.0  # seconds one send may take with its retries (< dispatch timeout)

    def delay(self, retry: int, failure: Exception | None) -> float:
        wait = min(self.cap, self.base * 2 ** retry)
        if isinstance(failure, GraphError):
            wait = max(wait, min(self.cap, failure.retry_after))
        return wait


class GraphApi:
    def __init__(self, base_url: str, version: str, access_token: str, *,
                 policy: RetryPolicy = RetryPolicy(), timeout: float = 10.0,
                 sleep: Sleep = asyncio.sleep, http: httpx.AsyncClient | None = None) -> None:
        self.root = f"{base_url.rstrip('/')}/{version.strip('/')}"
        self.policy = policy
        self.timeout = timeout
        self.sleep = sleep
        self.attempts = 0  # requests made, for operators and tests
        self.http = http or httpx.AsyncClient(
            timeout=timeout, headers={"Authorization": f"Bearer {access_token}"},
            limits=httpx.Limits(keepalive_expiry=5.0))

    async def send_message(self, phone_number_id: str, payload: Mapping[str, Any]) -> str:
        """The wamid Meta gave the message; GraphError when it refused it for good."""
        url = f"{self.root}/{phone_number_id}/messages"
        clock = asyncio.get_running_loop().time
        started, slept, made = clock(), 0.0, 0
        failure: Exception | None = None
        for attempt in range(self.policy.max_retries + 1):
            if attempt:
                wait = self.policy.delay(attempt - 1, failure)
                if clock() - started + slept + wait + self.timeout > self.policy.budget:
                    break  # the next try would outlast the budget: the dispatcher's turn
                await self.sleep(wait)
                slept += wait
            made += 1
            try:
                response = await self._post_once_more_if_stale(url, payload)
            except NOT_SENT as exc:
                failure = exc
                continue
            if response.is_success:
                return _wamid(response)
            failure = _refusal(GraphError.from_response(response))
        raise CloudUnavailableError(
            f"Cloud API unavailable after {made} attempt(s): {_describe(failure)}",
            retry_after=failure.retry_after if isinstance(failure, GraphError) else 0.0
        ) from failure

    async def _post_once_more_if_stale(self, url: str,
                                       payload: Mapping[str, Any]) -> httpx.Response:
        try:
            return await self._post(url, payload)
        except StaleConnectionError:
            return await self._post(url, payload, stale_ok=False)

    async def _post(self, url: str, payload: Mapping[str, Any],
                    stale_ok: bool = True) -> httpx.Response:
        self.attempts += 1
        opened: list[str] = []

        async def trace(name: str, info: Mapping[str, Any]) -> None:
            if name.startswith("connection.connect_tcp"):
                opened.append(name)

        try:
            return await self.http.post(url, json=payload, extensions={"trace": trace})
        except NOT_SENT:
            raise
        except STALE as exc:
            if stale_ok and not opened:
                raise StaleConnectionError(str(exc)) from exc
            raise _unknown(exc) from exc
        except httpx.TransportError as exc:
            raise _unknown(exc) from exc

    async def upload_media(self, phone_number_id: str, content: bytes, mime_type: str,
                           filename: str) -> str:
        """`POST /{phone_number_id}/media` (multipart: `messaging_product`, `type`, `file`):
        the media id a message then names. One try: a repeated upload only makes another
        media object, so any failure that may pass is the dispatcher's to retry."""
        try:
            response = await self.http.post(
                f"{self.root}/{phone_number_id}/media",
                data={"messaging_product": "whatsapp", "type": mime_type},
                files={"file": (filename or "file", content, mime_type)})
        except httpx.TransportError as exc:
            raise CloudUnavailableError(f"Cloud API media upload: {exc!r}") from exc
        self.attempts += 1
        if not response.is_success:
            failure = _refusal(GraphError.from_response(response))
            raise CloudUnavailableError(f"Cloud API media upload: {failure.reason}",
                                        retry_after=failure.retry_after) from failure
        media_id = _json_field(response, "id")
        if not media_id:
            raise CloudUnavailableError("the Cloud API took the media upload but named no id")
        return media_id

    async def phone_number(self, phone_number_id: str) -> dict[str, Any]:
        """`GET /{phone_number_id}`: display_phone_number, verified_name (checks the token)."""
        try:
            response = await self.http.get(
                f"{self.root}/{phone_number_id}",
                params={"fields": "display_phone_number,verified_name"})
        except httpx.TransportError as exc:
            raise CloudUnavailableError(f"Cloud API unreachable: {exc!r}") from exc
        if not response.is_success:
            raise GraphError.from_response(response)
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def close(self) -> None:
        await self.http.aclose()


class StaleConnectionError(Exception):
    """A kept-alive connection died under the request before any answer."""


STALE = (httpx.RemoteProtocolError, httpx.ReadError)


def _refusal(error: GraphError) -> GraphError:
    """A refusal for good (or a rate limit, handed back now) is raised; a passing one is
    returned, to be tried again."""
    if error.handling is Handling.PACED:
        raise CloudUnavailableError(f"rate limited: {error.reason}", retry_after=error.wait) \
            from error
    if error.handling is not Handling.TRANSIENT:
        raise error
    return error


def _unknown(exc: Exception) -> OutcomeUnknownError:
    return OutcomeUnknownError(
        f"no answer from the Cloud API ({type(exc).__name__}); the message may have been "
        "accepted, so it is not sent again")


def _wamid(response: httpx.Response) -> str:
    try:
        wamid = response.json()["messages"][0]["id"]
    except (ValueError, LookupError, TypeError) as exc:
        raise OutcomeUnknownError("the Cloud API accepted the request but named no message "
                                  "id; not sent again") from exc
    return str(wamid)


def _json_field(response: httpx.Response, name: str) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get(name) or "") if isinstance(body, dict) else ""


def _describe(failure: Exception | None) -> str:
    if isinstance(failure, GraphError):
        return failure.reason
    return repr(failure)
