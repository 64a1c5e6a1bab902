"""The billing service, as the handlers' `Billing` port.

Reservations of concurrent sends go together (kernel/gathering.py): a reserve made while
another is on its way to billing waits for the next call, which carries every reserve
that came meanwhile (`ReserveCreditsMany`); one alone goes as `ReserveCredits`. Each gets
the outcome its own call would have had: its reply, or its refusal (a refusal of one
touches no other)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from kernel import context
from kernel.gathering import Gatherer
from services.messaging.adapters.remote import calling, one_or_many
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc

DEFAULT_TIMEOUT = 5.0


class BillingClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = billing_pb2_grpc.BillingServiceStub(channel)
        self._timeout = timeout
        self._reserves: Gatherer[billing_pb2.ReserveCreditsRequest,
                                 billing_pb2.ReserveCreditsResponse] = Gatherer(self._reserve)

    @property
    def calls(self) -> int:
        """Reservation calls made, for tests and operators."""
        return self._reserves.calls

    async def reserve(self, user_id: int, message_ids: Sequence[str]) -> int:
        reply = await self._reserves(billing_pb2.ReserveCreditsRequest(
            user_id=user_id, message_ids=message_ids,
            correlation_id=context.current().correlation_id))
        return int(reply.remaining_credits)

    async def _reserve(self, requests: list[billing_pb2.ReserveCreditsRequest]) -> list[Any]:
        return await one_or_many("billing", self._stub.ReserveCredits,
                                 self._stub.ReserveCreditsMany,
                                 billing_pb2.ReserveCreditsManyRequest, requests,
                                 self._timeout)

    async def release(self, user_id: int, message_ids: Sequence[str], reason: str) -> None:
        request = billing_pb2.ReleaseCreditsRequest(user_id=user_id, message_ids=message_ids,
                                                    reason=reason)
        await calling("billing", self._stub.ReleaseCredits, request, self._timeout)
