"""The one table from auth's domain errors to gRPC status codes."""

from __future__ import annotations

import grpc

from kernel.errors import DomainError, statuses_from
from services.auth.domain import errors

GRPC_STATUS: dict[type[DomainError], grpc.StatusCode] = {
    errors.InvalidRegistrationError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.UsernameTakenError: grpc.StatusCode.ALREADY_EXISTS,
    errors.SignupClosedError: grpc.StatusCode.PERMISSION_DENIED,
    errors.AdminNotGrantedError: grpc.StatusCode.UNAUTHENTICATED,
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

mapped = statuses_from(GRPC_STATUS)
