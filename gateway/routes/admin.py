"""Admin management (the seed names it; shapes are Switchboard's, see docs/api.md)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.deps import AdminUser, ServiceClients
from switchboard.billing.v1 import billing_pb2

router = APIRouter(prefix="/api/admin", tags=["admin"])


class CreditsBody(BaseModel):
    amount: int = Field(gt=0, le=10_000_000)
    reason: str = Field(default="admin top-up", max_length=500)


@router.post("/users/{user_id}/credits")
async def add_credits(user_id: int, body: CreditsBody, admin: AdminUser,
                      clients: ServiceClients) -> dict[str, object]:
    balance = await clients.billing.GrantCredits(billing_pb2.GrantCreditsRequest(
        user_id=user_id, amount=body.amount, reason=body.reason, granted_by=admin.user_id))
    return {"message": "Credits added successfully", "user_id": user_id,
            "credits": balance.available}
