"""Failures of the services messaging calls, as messaging errors.

A service that cannot be reached (or does not answer in time) is SERVICE_UNAVAILABLE;
a rule the callee refused (INSUFFICIENT_CREDITS, ...) passes through with its code,
status, message and details unchanged, so the gateway renders it as the callee meant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.rpc import status_pb2

from kernel import context
from kernel.errors import RemoteError, from_rpc_error, from_status
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


async def one_or_many(service: str, one: Callable[..., Awaitable[Any]],
                      many: Callable[..., Awaitable[Any]], many_request: Callable[..., Any],
                      requests: Sequence[Any], deadline: float) -> list[Any]:
    """Gathered requests (kernel/gathering.py) in one call: a request alone as its own rpc
    (`one`), under its own correlation id; several as the rpc that carries them (`many`),
    each outcome its reply or, refused, the error its own call would have raised."""
    if len(requests) == 1:
        context.begin(requests[0].correlation_id)  # the call carries its caller's id
        return [await calling(service, one, requests[0], deadline)]
    answered = await calling(service, many, many_request(requests=requests), deadline)
    return [outcome.reserved if outcome.WhichOneof("outcome") == "reserved"
            else refusal(from_status(status_pb2.Status.FromString(outcome.refused)), service)
            for outcome in answered.outcomes]
