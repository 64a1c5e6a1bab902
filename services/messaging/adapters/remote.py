"""Failures of the services messaging calls, as messaging errors.

A service that cannot be reached (or does not answer in time) is SERVICE_UNAVAILABLE;
a rule the callee refused (INSUFFICIENT_CREDITS, ...) passes through with its code,
status, message and details unchanged, so the gateway renders it as the callee meant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from kernel.errors import RemoteError, from_rpc_error
from services.messaging.domain.errors import (
    DependencyUnavailableError,
    MessagingError,
    RefusedByServiceError,
)

R = TypeVar("R")

UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def translated(exc: grpc.aio.AioRpcError, service: str) -> MessagingError:
    return refusal(from_rpc_error(exc), service)


def refusal(remote: RemoteError, service: str) -> MessagingError:
    """A callee's failure, whether it ended the call or came as one outcome of a batch."""
    if remote.status in UNREACHABLE:
        return DependencyUnavailableError(service)
    return RefusedByServiceError(remote)


async def calling(service: str, method: Callable[..., Awaitable[R]], request: Any,
                  deadline: float) -> R:
    """Call one remote method, turning its failure into a messaging error."""
    try:
        return await method(request, timeout=deadline)
    except grpc.aio.AioRpcError as exc:
        raise translated(exc, service) from exc
