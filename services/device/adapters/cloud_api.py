"""Meta's WhatsApp Business Cloud API over HTTPS: the message bodies, the send call with
its bounded retries, and the phone number lookup that activates a device.

`POST {base}/{version}/{phone_number_id}/messages` with `Authorization: Bearer <token>`;
a 200 carries `messages[0].id`, the wamid (accepted, not yet sent: statuses come by
webhook). Every body carries `biz_opaque_callback_data` = our transport message id,
which Meta echoes on each status webhook.

Retries: only where Meta surely did not take the message — a connection that never
carried the request, or an error answer classed TRANSIENT (cloud_errors) — with
exponential backoff (`Retry-After` when Meta sends one). A request that went out and got
no answer (read timeout, dropped connection) is never repeated: OutcomeUnknownError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.device.adapters.cloud_errors import CloudUnavailableError, GraphError, Handling
from services.device.adapters.whatsmeow_ledger import OutcomeUnknownError

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


def recipient(number: str) -> str:
    """Meta takes `to` with or without `+`; Switchboard sends E.164 digits."""
    return "".join(ch for ch in number if ch.isdigit())


def text_message(to: str, body: str, tracker: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": recipient(to), "type": "text",
            "text": {"preview_url": False, "body": body},
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
            "to": recipient(to), "type": "template", "template": body,
            "biz_opaque_callback_data": tracker}


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base: float = 0.5
    cap: float = 30.0

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
        self.sleep = sleep
        self.attempts = 0  # requests made, for operators and tests
        self.http = http or httpx.AsyncClient(
            timeout=timeout, headers={"Authorization": f"Bearer {access_token}"},
            limits=httpx.Limits(keepalive_expiry=5.0))

    async def send_message(self, phone_number_id: str, payload: Mapping[str, Any]) -> str:
        """The wamid Meta gave the message; GraphError when it refused it for good."""
        url = f"{self.root}/{phone_number_id}/messages"
        failure: Exception | None = None
        for attempt in range(self.policy.max_retries + 1):
            if attempt:
                await self.sleep(self.policy.delay(attempt - 1, failure))
            try:
                response = await self._post(url, payload)
            except NOT_SENT as exc:
                failure = exc
                continue
            if response.is_success:
                return _wamid(response)
            error = GraphError.from_response(response)
            if error.handling is not Handling.TRANSIENT:
                raise error
            failure = error
        raise CloudUnavailableError(
            f"Cloud API unavailable after {self.policy.max_retries + 1} attempts: "
            f"{_describe(failure)}") from failure

    async def _post(self, url: str, payload: Mapping[str, Any]) -> httpx.Response:
        self.attempts += 1
        try:
            return await self.http.post(url, json=payload)
        except NOT_SENT:
            raise
        except httpx.TransportError as exc:
            raise OutcomeUnknownError(
                f"no answer from the Cloud API ({type(exc).__name__}); the message may have "
                "been accepted, so it is not sent again") from exc

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


def _wamid(response: httpx.Response) -> str:
    try:
        wamid = response.json()["messages"][0]["id"]
    except (ValueError, LookupError, TypeError) as exc:
        raise OutcomeUnknownError("the Cloud API accepted the request but named no message "
                                  "id; not sent again") from exc
    return str(wamid)


def _describe(failure: Exception | None) -> str:
    if isinstance(failure, GraphError):
        return failure.reason
    return repr(failure)
