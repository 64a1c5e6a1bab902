"""Domain errors, and the one table that turns them into gRPC statuses with details.

Each service raises named errors under `DomainError`; the gRPC edge turns them into a
`google.rpc.Status` carrying an `ErrorInfo` (reason = the error code, metadata = the
numbers a client may need); the gateway maps them back onto each REST API's envelope.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "switchboard"


class DomainError(Exception):
    """Base of every rule a command can break. `code` is the API-level error code."""

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


M = TypeVar("M", bound=Callable[..., Awaitable[Any]])


def statuses_from(table: Mapping[type[DomainError], grpc.StatusCode]) -> Callable[[M], M]:
    """A decorator giving a domain error raised by the method its gRPC status from a
    service's table (errors not in it keep their own)."""

    def mapped(method: M) -> M:
        @functools.wraps(method)
        async def call(*args: Any) -> Any:
            try:
                return await method(*args)
            except DomainError as exc:
                exc.status = table.get(type(exc), exc.status)
                raise

        return call  # type: ignore[return-value]

    return mapped


def to_status(error: DomainError) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(reason=error.code, domain=DOMAIN, metadata=error.details)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=error.status.value[0], message=error.message,
                               details=[detail])
    return rpc_status.to_status(status)


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
    reason, metadata = "", {}
    status = rpc_status.from_call(exc)
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                reason, metadata = info.reason, dict(info.metadata)
    if not reason:
        reason = {grpc.StatusCode.UNAVAILABLE: "SERVICE_UNAVAILABLE",
                  grpc.StatusCode.DEADLINE_EXCEEDED: "SERVICE_UNAVAILABLE",
                  grpc.StatusCode.UNAUTHENTICATED: "UNAUTHORIZED",
                  grpc.StatusCode.NOT_FOUND: "NOT_FOUND"}.get(exc.code(), "INTERNAL_ERROR")
    return RemoteError(exc.code(), reason, exc.details() or "", metadata)
