"""Domain errors, their categories, and the one mapping from a category to a gRPC status.

Each service raises named errors under its own base, each error also inheriting one of
the categories below, which alone fixes its gRPC status: a service declares no statuses
of its own. The gRPC edge (kernel/rpc.py) turns an error into a `google.rpc.Status`
carrying an `ErrorInfo` (reason = the error's API code, metadata = the numbers a client
may need); the gateway maps that back onto each REST API's envelope (gateway/errors.py).
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "switchboard"


class DomainError(Exception):
    """Base of every rule a command can break. `code` is the API-level error code;
    `status` comes with the category the error inherits (an error passed on from another
    service keeps that service's)."""

    code = "INVALID_REQUEST"
    status = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = {k: str(v) for k, v in details.items()}


class InvalidRequestError(DomainError):
    code = "INVALID_REQUEST"
    status = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(DomainError):
    code = "NOT_FOUND"
    status = grpc.StatusCode.NOT_FOUND


class UnauthorizedError(DomainError):
    code = "UNAUTHORIZED"
    status = grpc.StatusCode.UNAUTHENTICATED


class ForbiddenError(DomainError):
    code = "FORBIDDEN"
    status = grpc.StatusCode.PERMISSION_DENIED


class ConflictError(DomainError):
    code = "CONFLICT"
    status = grpc.StatusCode.ALREADY_EXISTS


class UnavailableError(DomainError):
    code = "SERVICE_UNAVAILABLE"
    status = grpc.StatusCode.UNAVAILABLE


class FailedPreconditionError(DomainError):
    """A well-formed command the current state refuses (too few credits, a closed
    reservation): retrying it unchanged will not help until the state changes."""

    status = grpc.StatusCode.FAILED_PRECONDITION


class ThrottledError(DomainError):
    """Too many attempts: `retry_after` in the details says when to come back."""

    code = "RATE_LIMITED"
    status = grpc.StatusCode.RESOURCE_EXHAUSTED


def status_of(error: DomainError) -> status_pb2.Status:
    """The `google.rpc.Status` an error ends its call with: its code, message and an
    ErrorInfo (reason = the API code, metadata = its details)."""
    info = error_details_pb2.ErrorInfo(reason=error.code, domain=DOMAIN, metadata=error.details)
    detail = any_pb2.Any()
    detail.Pack(info)
    return status_pb2.Status(code=error.status.value[0], message=error.message,
                             details=[detail])


def to_status(error: DomainError) -> grpc.Status:
    return rpc_status.to_status(status_of(error))


def internal_status(message: str) -> grpc.Status:
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message=message))


class RemoteError(Exception):
    """A gRPC failure as a client sees it: the code, reason and details of the callee."""

    def __init__(self, status: grpc.StatusCode, reason: str, message: str,
                 metadata: dict[str, str]) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.metadata = metadata


def from_rpc_error(exc: grpc.aio.AioRpcError) -> RemoteError:
    return _remote(exc.code(), exc.details() or "", rpc_status.from_call(exc))


def from_status(status: status_pb2.Status) -> RemoteError:
    """A refusal carried as a `google.rpc.Status` inside a reply (one outcome of a
    batched call), as `from_rpc_error` reads the same refusal ending a call."""
    return _remote(_CODES.get(status.code, grpc.StatusCode.UNKNOWN), status.message, status)


_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _remote(code: grpc.StatusCode, message: str,
            status: status_pb2.Status | None) -> RemoteError:
    reason, metadata = "", {}
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                reason, metadata = info.reason, dict(info.metadata)
    if not reason:
        reason = {grpc.StatusCode.UNAVAILABLE: "SERVICE_UNAVAILABLE",
                  grpc.StatusCode.DEADLINE_EXCEEDED: "SERVICE_UNAVAILABLE",
                  grpc.StatusCode.UNAUTHENTICATED: "UNAUTHORIZED",
                  grpc.StatusCode.NOT_FOUND: "NOT_FOUND"}.get(code, "INTERNAL_ERROR")
    return RemoteError(code, reason, message, metadata)
