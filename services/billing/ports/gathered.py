"""The gathered rpcs' answers (ReserveCreditsMany, ReserveQuotaMany): each request of the
call answered as its own call (ReserveCredits, ReserveQuota) would have answered it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kernel import context as trace
from kernel.errors import DomainError, status_of

Answer = Callable[[Any, Any], Awaitable[Any]]


async def each_answered(answer: Answer, requests: Sequence[Any], context: Any,
                        outcome: Callable[..., Any]) -> list[Any]:
    """Each request as `answer` (the single rpc) alone answers it, under the correlation id
    it carries, all at once (so they go through billing's one group change together): an
    `outcome(reserved=reply)`, or `outcome(refused=<google.rpc.Status>)` for a refusal (a
    DomainError). Any other failure fails the call, as it would have failed each call."""

    async def one(single: Any) -> Any:
        trace.begin(single.correlation_id, actor=trace.current().actor)  # its own task
        return await answer(single, context)

    done = await asyncio.gather(*(one(single) for single in requests),
                                return_exceptions=True)
    outcomes = []
    for result in done:
        if isinstance(result, DomainError):
            outcomes.append(outcome(refused=status_of(result).SerializeToString()))
        elif isinstance(result, BaseException):
            raise result
        else:
            outcomes.append(outcome(reserved=result))
    return outcomes
