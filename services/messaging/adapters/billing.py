"""The billing service, as the handlers' `Billing` port."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from services.messaging.adapters.remote import calling
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc

DEFAULT_TIMEOUT = 5.0


class BillingClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = billing_pb2_grpc.BillingServiceStub(channel)
        self._timeout = timeout

    async def reserve(self, user_id: int, message_ids: Sequence[str]) -> int:
        request = billing_pb2.ReserveCreditsRequest(user_id=user_id, message_ids=message_ids)
        reply = await calling("billing", self._stub.ReserveCredits, request, self._timeout)
        return int(reply.remaining_credits)

    async def release(self, user_id: int, message_ids: Sequence[str], reason: str) -> None:
        request = billing_pb2.ReleaseCreditsRequest(user_id=user_id, message_ids=message_ids,
                                                    reason=reason)
        await calling("billing", self._stub.ReleaseCredits, request, self._timeout)
