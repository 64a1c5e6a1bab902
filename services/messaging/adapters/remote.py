"""Failures of the services messaging calls, as messaging errors.

A service that cannot be reached (or does not answer in time) is SERVICE_UNAVAILABLE;
a rule the callee refused (INSUFFICIENT_CREDITS, ...) passes through with its code,
status, message and details unchanged, so the gateway renders it as the callee meant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from kernel.errors import from_rpc_error
from services.messaging.domain.errors import (
    DependencyUnavailableError,
    MessagingError,
    RefusedByServiceError,
)

R = TypeVar("R")

UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def translated(exc: grpc.aio.AioRpcError, service: str) -> MessagingError:
    if exc.code() in UNREACHABLE:
        return DependencyUnavailableError(service)
    return RefusedByServiceError(from_rpc_error(exc))


async def calling(service: str, method: Callable[..., Awaitable[R]], request: Any,
                  deadline: float) -> R:
    """Call one remote method, turning its failure into a messaging error."""
    try:
        return await method(request, timeout=deadline)
    except grpc.aio.AioRpcError as exc:
        raise translated(exc, service) from exc
