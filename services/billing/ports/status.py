"""The one table from billing's domain errors to gRPC status codes."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from kernel.errors import DomainError
from services.billing.domain import errors

GRPC_STATUS: dict[type[DomainError], grpc.StatusCode] = {
    errors.InvalidBillingRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.MessageIdTakenError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.InsufficientCreditsError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ReservationClosedError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.QuotaExceededError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.SubscriptionEndedError: grpc.StatusCode.NOT_FOUND,
    errors.LedgerBusyError: grpc.StatusCode.UNAVAILABLE,
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
