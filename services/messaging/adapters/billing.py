"""The billing service, as the handlers' `Billing` port.

Reservations of concurrent sends go together: a reserve made while another is on its way
to billing waits for the next call, which carries every reserve that came meanwhile
(`ReserveCreditsMany`); one alone goes as `ReserveCredits`. Each gets the outcome its own
call would have had: its reply, or its refusal (a refusal of one touches no other)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc
from google.rpc import status_pb2

from kernel import context
from kernel.errors import from_status
from services.messaging.adapters.remote import calling, refusal
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc

DEFAULT_TIMEOUT = 5.0
MOST_GATHERED = 256  # reserves in one call at most

_Waiting = tuple[billing_pb2.ReserveCreditsRequest,
                 asyncio.Future[billing_pb2.ReserveCreditsResponse]]


class BillingClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = billing_pb2_grpc.BillingServiceStub(channel)
        self._timeout = timeout
        self._waiting: list[_Waiting] = []
        self._sender: asyncio.Task[None] | None = None
        self.calls = 0  # reservation calls made, for tests and operators

    async def reserve(self, user_id: int, message_ids: Sequence[str]) -> int:
        request = billing_pb2.ReserveCreditsRequest(
            user_id=user_id, message_ids=message_ids,
            correlation_id=context.current().correlation_id)
        answer: asyncio.Future[billing_pb2.ReserveCreditsResponse] = \
            asyncio.get_running_loop().create_future()
        answer.add_done_callback(_retrieved)
        self._waiting.append((request, answer))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_all())
        # A caller that goes away does not take its reserve out of the call it is in.
        reply = await asyncio.shield(answer)
        return int(reply.remaining_credits)

    async def _send_all(self) -> None:
        while self._waiting:
            batch = self._waiting[:MOST_GATHERED]
            self._waiting = self._waiting[MOST_GATHERED:]
            await self._send(batch)

    async def _send(self, batch: list[_Waiting]) -> None:
        self.calls += 1
        try:
            if len(batch) == 1:
                request, answer = batch[0]
                context.begin(request.correlation_id)  # the call carries its caller's id
                single = billing_pb2.ReserveCreditsRequest(user_id=request.user_id,
                                                           message_ids=request.message_ids)
                reply = await calling("billing", self._stub.ReserveCredits, single,
                                      self._timeout)
                _settle(answer, reply)
                return
            many = await calling("billing", self._stub.ReserveCreditsMany,
                                 billing_pb2.ReserveCreditsManyRequest(
                                     requests=[request for request, _ in batch]),
                                 self._timeout)
            if len(many.outcomes) != len(batch):
                raise RuntimeError(f"billing answered {len(many.outcomes)} outcomes for "
                                   f"{len(batch)} reservations")
        except BaseException as exc:  # the call failed: each outcome is unknown alike
            for _, answer in batch:
                _settle(answer, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_, answer), outcome in zip(batch, many.outcomes, strict=True):
            if outcome.WhichOneof("outcome") == "reserved":
                _settle(answer, outcome.reserved)
            else:
                _settle(answer, refusal(
                    from_status(status_pb2.Status.FromString(outcome.refused)), "billing"))

    async def release(self, user_id: int, message_ids: Sequence[str], reason: str) -> None:
        request = billing_pb2.ReleaseCreditsRequest(user_id=user_id, message_ids=message_ids,
                                                    reason=reason)
        await calling("billing", self._stub.ReleaseCredits, request, self._timeout)


def _settle(answer: asyncio.Future[billing_pb2.ReserveCreditsResponse],
            outcome: billing_pb2.ReserveCreditsResponse | BaseException) -> None:
    if answer.done():
        return
    if isinstance(outcome, asyncio.CancelledError):
        answer.cancel()
    elif isinstance(outcome, BaseException):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)


def _retrieved(answer: asyncio.Future[billing_pb2.ReserveCreditsResponse]) -> None:
    """An answer whose caller went away is still read, so its failure is not reported as
    never retrieved."""
    if not answer.cancelled():
        answer.exception()
