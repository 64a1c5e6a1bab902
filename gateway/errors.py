"""The one place where errors become each REST API's answer: a service's refusal (its
gRPC status and `ErrorInfo`) or the edge's own, turned into an API code, an HTTP status
and the API's envelope.

Messaging API (seed 002): `{"error": CODE, "message": ..., "code": http_status}`.
Instance API (seed 000): `{"success": false, "message": ..., "error": CODE, "data": null}`.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.codes import HTTP_STATUS
from gateway.v1 import PREFIX as V1_PREFIX
from kernel.errors import RemoteError, from_rpc_error

log = logging.getLogger(__name__)

# A service's reason that is not an API code -> the API code both APIs answer with (the
# device service's refusals, as the Instance API and the instance routes name them).
API_CODES = {
    "DEVICE_NOT_FOUND": "NOT_FOUND",
    "INVALID_PAIRING_REF": "INVALID_REQUEST",
    "QR_EXPIRED": "INVALID_REQUEST",
    "QR_NOT_ISSUED": "INVALID_REQUEST",
    "SIMULATOR_ONLY": "NOT_FOUND",
    "DEVICE_BANNED": "FORBIDDEN",
    "DEVICE_FAILED": "CONFLICT",
    "DEVICE_EXISTS": "CONFLICT",
    "NOT_CONNECTED": "INSTANCE_NOT_CONNECTED",
}

_BY_HTTP = {400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
            405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 429: "RATE_LIMITED"}


class ApiError(Exception):
    """Raised by routes for errors decided at the edge (auth header, validation)."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers


def envelope(request: Request, code: str, message: str,
             headers: dict[str, str] | None = None) -> JSONResponse:
    status = HTTP_STATUS.get(code, 500)
    return JSONResponse(envelope_body(request.url.path, code, message), status_code=status,
                        headers=headers)


def envelope_body(path: str, code: str, message: str) -> dict[str, object]:
    """The envelope of the API that `path` belongs to."""
    if path.startswith(V1_PREFIX):
        return {"success": False, "message": message, "error": code, "data": None}
    return {"error": code, "message": message, "code": HTTP_STATUS.get(code, 500)}


def _validation_message(exc: RequestValidationError) -> str:
    unknown = [_where(e) for e in exc.errors() if e.get("type") == "extra_forbidden"]
    if unknown:
        return f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
    for err in exc.errors():
        where = _where(err)
        if err.get("type") == "json_invalid":
            return "Malformed JSON body"
        return f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg"))
    return "Invalid request"


def _where(err: Any) -> str:
    return ".".join(str(p) for p in err.get("loc", ()) if p != "body")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return envelope(request, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return envelope(request, "INVALID_REQUEST", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _BY_HTTP.get(exc.status_code, "INTERNAL_ERROR")
        return envelope(request, code, str(exc.detail))

    @app.exception_handler(grpc.aio.AioRpcError)
    async def _remote(request: Request, exc: grpc.aio.AioRpcError) -> JSONResponse:
        return remote_envelope(request, from_rpc_error(exc))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(request, "INTERNAL_ERROR", "Internal server error")


def remote_envelope(request: Request, error: RemoteError) -> JSONResponse:
    """A service's refusal in the API's envelope, under the API's code for its reason."""
    code = API_CODES.get(error.reason, error.reason)
    if code == "SERVICE_UNAVAILABLE":
        cause = error.metadata.get("device_error")  # the device's own failure, named
        return envelope(request, code, f"The device failed: {cause}; retry shortly"
                        if cause else "Service temporarily unavailable, retry shortly",
                        headers={"Retry-After": "1"})
    if code == "INTERNAL_ERROR":
        log.error("service error: %s", error.message)
        return envelope(request, code, "Internal server error")
    if code == "RATE_LIMITED":
        retry_after = error.metadata.get("retry_after", "60")
        return envelope(request, code, f"{error.message} (in {retry_after} seconds)",
                        headers={"Retry-After": retry_after})
    return envelope(request, code, error.message)
