"""The one table from auth's domain errors to gRPC status codes."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from kernel.errors import DomainError
from services.auth.domain import errors

GRPC_STATUS: dict[type[DomainError], grpc.StatusCode] = {
    errors.InvalidRegistrationError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.UsernameTakenError: grpc.StatusCode.ALREADY_EXISTS,
    errors.InvalidCredentialsError: grpc.StatusCode.UNAUTHENTICATED,
    errors.InvalidTokenError: grpc.StatusCode.UNAUTHENTICATED,
    errors.UserNotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.DirectoryBusyError: grpc.StatusCode.UNAVAILABLE,
    errors.SelfLockoutError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.LoginThrottledError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.InvalidInstanceError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.InstanceNotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.InvalidInstanceCredentialsError: grpc.StatusCode.UNAUTHENTICATED,
}

M = TypeVar("M", bound=Callable[..., Awaitable[Any]])


def mapped(method: M) -> M:
    """Give a domain error raised by `method` its gRPC status from the table."""

    @functools.wraps(method)
    async def call(*args: Any) -> Any:
        try:
            return await method(*args)
        except DomainError as exc:
            exc.status = GRPC_STATUS.get(type(exc), exc.status)
            raise

    return call  # type: ignore[return-value]
