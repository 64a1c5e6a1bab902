"""JSON-lines logging with the correlation id of the work in hand, secrets redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from types import TracebackType

from kernel import context

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[
    None, None, None]
_SECRET_PARAMS = re.compile(r"((?:secretKey|password|access_token|token)=)[^&\s\"]+", re.I)
# Secrets in other shapes: JSON fields, headers, and our own secret keys and JWTs wherever
# they turn up (Instance API secrets start "sk_"; JWTs start "eyJ").
_SECRET_FIELDS = re.compile(
    r"""(["']?(?:secret_?key|password|access_token|x-secret-key)["']?\s*[:=]\s*["']?)"""
    r"""[^"'&,\s}]+""", re.I)
_BEARER = re.compile(r"(bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)
_OWN_SECRETS = re.compile(r"\bsk_[A-Za-z0-9_-]{16,}"
                          r"|\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    text = _SECRET_PARAMS.sub(r"\1[REDACTED]", text)
    text = _SECRET_FIELDS.sub(r"\1[REDACTED]", text)
    text = _BEARER.sub(r"\1[REDACTED]", text)
    return _OWN_SECRETS.sub("[REDACTED]", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "correlation_id": context.current().correlation_id,
        }
        if record.exc_info:
            line["exc"] = redact(self._exception(record.exc_info))
        return json.dumps(line)

    def _exception(self, exc_info: ExcInfo) -> str:
        """The traceback; one line for a RecursionError, whose traceback is the same
        frame a thousand times (hundreds of kilobytes for one bad request)."""
        kind, value, _ = exc_info
        if kind is not None and issubclass(kind, RecursionError):
            return f"{kind.__name__}: {value}"
        return self.formatException(exc_info)


def configure(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "nats"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
