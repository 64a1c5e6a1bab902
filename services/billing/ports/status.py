"""The one table from billing's domain errors to gRPC status codes."""

from __future__ import annotations

import grpc

from kernel.errors import DomainError, statuses_from
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

mapped = statuses_from(GRPC_STATUS)
