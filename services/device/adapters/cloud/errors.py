"""Meta's Cloud API errors and what the cloud transport does with each: one table.

Graph API error bodies are `{"error": {"message", "type", "code", "error_subcode",
"error_data": {"details"}, "fbtrace_id", "is_transient"}}`. Meta says to branch on
`code` (and `error_data.details`), never on titles. Handling:

- PERMANENT: this message fails with the reason shown to the sender (TransportError).
- TRANSIENT: retried here with exponential backoff, a bounded number of times and
  within the send's time budget; then the dispatcher is told the failure may pass
  (nothing was sent) and tries the message again later, until its own attempts run
  out — TransientTransportError.
- PACED: a rate limit (130429 throughput, 131056 the same recipient too often, 4, 613,
  80007): never hammered here; handed straight back to the dispatcher, which waits at
  least Meta's `Retry-After` (or the rule's own pause: about 6 s per recipient for
  131056) before the next try.
- HALT: the sender itself is unusable (token, permissions, policy block, payment): the
  device is reported SessionFailed, its later sends stop at once, and the message is
  handed back (another device takes it, or it fails as not connected).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from kernel.loosejson import as_int, as_object
from services.device.app.transport import TransientTransportError


class Handling(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    PACED = "paced"
    HALT = "halt"


@dataclass(frozen=True)
class Rule:
    handling: Handling
    label: str
    pause: float = 0.0  # PACED: the least wait before the next try, without Retry-After


_AUTH = Rule(Handling.HALT, "access token rejected")
_PERMISSION = Rule(Handling.HALT, "permission denied")
_THROTTLED = Rule(Handling.PACED, "rate limited", pause=1.0)
_UNAVAILABLE = Rule(Handling.TRANSIENT, "service unavailable")
_RESTRICTED = Rule(Handling.HALT, "sender restricted")
_INVALID = Rule(Handling.PERMANENT, "invalid request")
_TEMPLATE = Rule(Handling.PERMANENT, "template rejected")

RULES: dict[int, Rule] = {
    0: _AUTH, 190: _AUTH,
    3: _PERMISSION, 10: _PERMISSION, **{c: _PERMISSION for c in range(200, 300)},
    4: _THROTTLED, 613: _THROTTLED, 80007: _THROTTLED, 130429: _THROTTLED,
    131056: Rule(Handling.PACED, "too many messages to this recipient", pause=6.0),
    1: _UNAVAILABLE, 2: _UNAVAILABLE, 131000: _UNAVAILABLE, 131016: _UNAVAILABLE,
    368: _RESTRICTED, 131031: _RESTRICTED, 131048: _RESTRICTED, 131064: _RESTRICTED,
    131042: Rule(Handling.HALT, "business payment issue"),
    131047: Rule(Handling.PERMANENT, "re-engagement required: more than 24 hours since "
                                     "the customer last replied; send a template"),
    131026: Rule(Handling.PERMANENT, "message undeliverable"),
    131030: Rule(Handling.PERMANENT, "recipient not in the allowed list"),
    131049: Rule(Handling.PERMANENT, "not delivered to keep the ecosystem healthy"),
    131050: Rule(Handling.PERMANENT, "recipient stopped marketing messages"),
    130497: Rule(Handling.PERMANENT, "recipient country restricted"),
    130472: Rule(Handling.PERMANENT, "recipient is part of a WhatsApp experiment"),
    100: _INVALID, 131008: _INVALID, 131009: _INVALID,
    131051: _INVALID, 131052: _INVALID, 131053: _INVALID,
    **{c: _TEMPLATE for c in (132000, 132001, 132005, 132007, 132008, 132012, 132015,
                              132016)},
}


def rule_for(code: int, http_status: int, is_transient: bool = False) -> Rule:
    """The table's rule; unknown codes go by the flag and the HTTP status."""
    if code in RULES:
        return RULES[code]
    if http_status == 429:
        return _THROTTLED
    if is_transient or http_status >= 500:
        return _UNAVAILABLE
    return Rule(Handling.PERMANENT, "refused")


def failure_reason(code: int, said: str, http_status: int = 400) -> str:
    """How a Meta error reads to the sender: its code, its class and Meta's own words."""
    label = rule_for(code, http_status).label
    return f"WhatsApp Cloud API error {code} ({label}): {said}"


class GraphError(Exception):
    """An error answer of the Graph API."""

    def __init__(self, http_status: int, code: int, message: str, details: str = "",
                 subcode: int = 0, is_transient: bool = False, retry_after: float = 0.0) -> None:
        self.http_status = http_status
        self.code = code
        self.subcode = subcode
        self.details = details
        self.rule = rule_for(code, http_status, is_transient)
        self.retry_after = retry_after
        super().__init__(message)

    @property
    def handling(self) -> Handling:
        return self.rule.handling

    @property
    def wait(self) -> float:
        """How long to leave the sender alone before the next try."""
        return max(self.retry_after, self.rule.pause)

    @property
    def reason(self) -> str:
        """The failure reason shown to the sender: code, class and Meta's own words."""
        return failure_reason(self.code, self.details or str(self), self.http_status)

    @classmethod
    def from_response(cls, response: httpx.Response) -> GraphError:
        error = as_object(_json(response).get("error"))
        data = as_object(error.get("error_data"))
        return cls(response.status_code, as_int(error.get("code")),
                   str(error.get("message") or response.reason_phrase),
                   details=str(data.get("details") or ""),
                   subcode=as_int(error.get("error_subcode")),
                   is_transient=bool(error.get("is_transient")),
                   retry_after=_retry_after(response))


class CloudUnavailableError(TransientTransportError):
    """Meta could not take the message now (throttled, down, unreachable): nothing was
    sent; the dispatcher tries it again after a backoff (at least `retry_after`)."""


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0
