"""Messaging API: /api/users/user/profile and /api/users/user/credits."""

from __future__ import annotations

from gateway.deps import CurrentUser, ServiceClients
from gateway.leanroute import api_router
from gateway.shapes import Credits, Profile, refusals
from gateway.timefmt import iso_naive
from switchboard.auth.v1 import auth_pb2
from switchboard.billing.v1 import billing_pb2

router = api_router(prefix="/api/users/user", tags=["users"], responses=refusals(401))


@router.get("/credits", response_model=Credits, name="get_credits")
async def credits(user: CurrentUser, clients: ServiceClients) -> dict[str, object]:
    """The signed-in user's available credits (credits reserved by queued messages are not
    available)."""
    balance = await clients.billing.GetBalance(billing_pb2.GetBalanceRequest(user_id=user.user_id))
    return {"credits": balance.available, "username": user.username}


@router.get("/profile", response_model=Profile, name="get_profile")
async def profile(user: CurrentUser, clients: ServiceClients) -> dict[str, object]:
    """The signed-in user's profile."""
    found = await clients.auth.GetUser(auth_pb2.GetUserRequest(user_id=user.user_id))
    balance = await clients.billing.GetBalance(billing_pb2.GetBalanceRequest(user_id=user.user_id))
    return {
        "id": found.user_id,
        "username": found.username,
        "email": found.email or None,
        "credits": balance.available,
        "is_admin": found.is_admin,
        "created_at": iso_naive(found.created_at),
    }
