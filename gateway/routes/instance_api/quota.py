"""Instance API: GET /api/v1/whatsapp/quota and POST /api/v1/whatsapp/subscription/renew
(seed 000), for the instance whose key pair signs the call.

The renewal body is the documented one: subscriptionType (1 Basic, 2 Standard, 3 Premium,
4 Enterprise), period (1 Monthly, 2 Yearly), monthlyQuota, amount, autoRenew. Types are
checked here (whole numbers, a number, a boolean); ranges by billing.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from gateway.billing_views import quota_block, subscription_block
from gateway.deps import InstanceCaller, ServiceClients
from gateway.leanroute import api_router
from gateway.text import RequestBody
from gateway.v1 import PREFIX, Ok, Quota, Subscription, ok, v1_refusals
from switchboard.billing.v1 import billing_pb2

router = api_router(prefix=PREFIX, tags=["instance api"], responses=v1_refusals(403, 404))

INT64 = 2**63 - 1


class RenewBody(RequestBody):
    model_config = ConfigDict(populate_by_name=True)

    subscription_type: StrictInt = Field(alias="subscriptionType", examples=[2])
    period: StrictInt = Field(examples=[1])
    monthly_quota: StrictInt = Field(alias="monthlyQuota", ge=-INT64, le=INT64,
                                     examples=[1000])
    amount: StrictFloat | StrictInt = Field(default=0, examples=[49.99])
    auto_renew: StrictBool = Field(default=False, alias="autoRenew", examples=[True])


@router.get("/quota", response_model=Ok[Quota])
async def quota(caller: InstanceCaller, clients: ServiceClients) -> dict[str, object]:
    """The instance's quota in its current period: used, remaining, the period's dates."""
    found = await clients.billing.GetQuota(billing_pb2.GetQuotaRequest(
        instance_id=caller.instance_id, user_id=caller.user_id))
    return ok("Quota status retrieved successfully", quota_block(found))


@router.post("/subscription/renew", response_model=Ok[Subscription])
async def renew_subscription(body: RenewBody, caller: InstanceCaller,
                             clients: ServiceClients) -> dict[str, object]:
    """Start a new term now on the given plan (`messagesUsed` back to 0); the amount is recorded, no
    money is taken."""
    renewed = await clients.billing.RenewSubscription(billing_pb2.RenewSubscriptionRequest(
        instance_id=caller.instance_id, user_id=caller.user_id,
        subscription_type=_int32(body.subscription_type), period=_int32(body.period),
        monthly_quota=body.monthly_quota, amount=float(body.amount),
        auto_renew=body.auto_renew))
    return ok("Subscription renewed successfully", subscription_block(renewed))


def _int32(value: int) -> int:
    """Out of int32's range is out of billing's range too: keep it out of range."""
    return max(min(value, 2**31 - 1), -(2**31))
