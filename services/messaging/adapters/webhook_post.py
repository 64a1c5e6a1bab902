"""One delivery POST: signed, through the guarded client, within one overall time limit,
the answer's body never read. Whatever goes wrong ends as an `Outcome` with a coarse
error for the delivery log ("connect failed", "timed out", "HTTP 503", "refused: private
address"), never the exception's text, which would turn the log into a port scanner; the
text goes to the service's own log."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from services.messaging.adapters.webhook_guard import RefusedTargetError, parse_target
from services.messaging.domain.inbox import RECEIVED, RECEIVED_STATUS
from services.messaging.domain.webhook import EVENT, InvalidWebhookError, signature

log = logging.getLogger(__name__)

TIMEOUTS = (TimeoutError, httpx.TimeoutException, httpcore.TimeoutException)
CONNECTS = (httpx.ConnectError, httpcore.ConnectError, OSError)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def coarse(error: Exception) -> str:
    if isinstance(error, RefusedTargetError):
        return "refused: private address"
    if isinstance(error, InvalidWebhookError):
        return "invalid URL"
    if isinstance(error, TIMEOUTS):
        return "timed out"
    if isinstance(error, CONNECTS):
        return "connect failed"
    return "request failed"


def headers(row: Any) -> dict[str, str]:
    event = RECEIVED if row.status == RECEIVED_STATUS else EVENT
    return {"Content-Type": "application/json", "X-Switchboard-Event": event,
            "X-Switchboard-Event-Id": row.event_id,
            "X-Switchboard-Timestamp": str(int(time.time())),
            "X-Switchboard-Signature": signature(row.secret, row.body)}


async def post(client: httpx.AsyncClient, row: Any, limit_seconds: float) -> Outcome:
    try:
        parse_target(row.url)  # a row registered before the checks existed
        async with asyncio.timeout(limit_seconds), \
                client.stream("POST", row.url, content=row.body, headers=headers(row)) as answer:
            code = answer.status_code
    except Exception as exc:  # noqa: BLE001 - every failure is an attempt, none a crash
        log.info("webhook delivery %s to %s failed: %s: %s", row.id, row.webhook_id,
                 type(exc).__name__, exc)
        return Outcome(None, coarse(exc))
    return Outcome(code, None if 200 <= code < 300 else f"HTTP {code}")
