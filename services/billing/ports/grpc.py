"""The gRPC edge of billing: protobuf in, commands to the handlers, protobuf out."""

from __future__ import annotations

import grpc

from kernel.tokens import current_caller
from services.billing.app import handlers
from services.billing.app.dependencies import BillingDeps
from services.billing.domain.commands import (
    GetBalance,
    GrantCredits,
    ReleaseCredits,
    ReserveCredits,
)
from services.billing.domain.model import Balance
from services.billing.ports.gathered import each_answered
from services.billing.ports.grpc_quota import QuotaRpcs
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc

SERVICE_NAME = billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name
__all__ = ["SERVICE_NAME", "BillingServicer"]


def balance_pb(balance: Balance) -> billing_pb2.Balance:
    return billing_pb2.Balance(user_id=balance.user_id, available=balance.available,
                               reserved=balance.reserved)


class BillingServicer(QuotaRpcs, billing_pb2_grpc.BillingServiceServicer):
    def __init__(self, deps: BillingDeps) -> None:
        self.deps = deps

    async def GrantCredits(self, request: billing_pb2.GrantCreditsRequest,
                           context: grpc.aio.ServicerContext) -> billing_pb2.Balance:
        cmd = GrantCredits(request.user_id, request.amount, request.reason,
                           _granted_by(request))
        return balance_pb(await handlers.grant_credits(cmd, self.deps))

    async def ReserveCredits(self, request: billing_pb2.ReserveCreditsRequest,
                             context: grpc.aio.ServicerContext
                             ) -> billing_pb2.ReserveCreditsResponse:
        cmd = ReserveCredits(request.user_id, tuple(request.message_ids))
        done = await handlers.reserve_credits(cmd, self.deps)
        return billing_pb2.ReserveCreditsResponse(reserved=done.reserved,
                                                  remaining_credits=done.remaining,
                                                  already_reserved=done.already_reserved)

    async def ReserveCreditsMany(self, request: billing_pb2.ReserveCreditsManyRequest,
                                 context: grpc.aio.ServicerContext
                                 ) -> billing_pb2.ReserveCreditsManyResponse:
        return billing_pb2.ReserveCreditsManyResponse(outcomes=await each_answered(
            self.ReserveCredits, request.requests, context, billing_pb2.ReserveOutcome))

    async def ReleaseCredits(self, request: billing_pb2.ReleaseCreditsRequest,
                             context: grpc.aio.ServicerContext
                             ) -> billing_pb2.ReleaseCreditsResponse:
        cmd = ReleaseCredits(request.user_id, tuple(request.message_ids),
                             request.reason or "released")
        done = await handlers.release_credits(cmd, self.deps)
        return billing_pb2.ReleaseCreditsResponse(released=done.count,
                                                  remaining_credits=done.remaining)

    async def GetBalance(self, request: billing_pb2.GetBalanceRequest,
                         context: grpc.aio.ServicerContext) -> billing_pb2.Balance:
        return balance_pb(await handlers.get_balance(GetBalance(request.user_id), self.deps))

    def register_on(self, server: grpc.aio.Server) -> None:
        billing_pb2_grpc.add_BillingServiceServicer_to_server(self, server)


def _granted_by(request: billing_pb2.GrantCreditsRequest) -> int:
    """An admin's own token grants as that admin, whatever the request says; a service
    (the gateway, for the admin it verified) names the admin in `granted_by`."""
    caller = current_caller()
    return caller.user_id if caller and not caller.is_service else request.granted_by
