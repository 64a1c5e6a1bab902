"""Admin management (the seed names it; shapes are Switchboard's, see docs/api.md).

Every route takes `AdminUser`: a non-admin gets 403 FORBIDDEN in the error envelope.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

from gateway.deps import AdminUser, ServiceClients
from gateway.errors import ApiError
from gateway.leanroute import api_router
from gateway.routes.messaging_api.instances import instance_doc, pagination
from gateway.shapes import AnyInstancePage, CreditsGranted, UserDoc, UserPage, refusals
from gateway.text import RequestBody
from gateway.timefmt import iso_naive
from switchboard.auth.v1 import auth_pb2
from switchboard.billing.v1 import billing_pb2

router = api_router(prefix="/api/admin", tags=["admin"], responses=refusals(401, 403, 404))
Page = Annotated[int, Query(ge=1, le=100_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]
UserId = Annotated[int, Path(ge=1, le=2**62)]


class CreditsBody(RequestBody):
    amount: int = Field(gt=0, le=10_000_000)
    reason: str = Field(default="admin top-up", max_length=500)


class UserChange(RequestBody):
    is_admin: bool | None = None
    disabled: bool | None = None
    reason: str = Field(default="", max_length=500)


def user_doc(user: auth_pb2.User, credits: int) -> dict[str, object]:
    return {
        "id": user.user_id,
        "username": user.username,
        "email": user.email or None,
        "notification_number": user.notification_number or None,
        "credits": credits,
        "is_admin": user.is_admin,
        "disabled": user.disabled,
        "created_at": iso_naive(user.created_at),
    }


async def _with_credits(clients: ServiceClients, user: auth_pb2.User) -> dict[str, object]:
    balance = await clients.billing.GetBalance(
        billing_pb2.GetBalanceRequest(user_id=user.user_id))
    return user_doc(user, balance.available)


@router.get("/users", response_model=UserPage)
async def list_users(admin: AdminUser, clients: ServiceClients, page: Page = 1,
                     per_page: PerPage = 20) -> dict[str, object]:
    """Every user, in id order, paged (administrators only)."""
    found = await clients.auth.ListUsers(auth_pb2.ListUsersRequest(page=page,
                                                                   per_page=per_page))
    users = await asyncio.gather(*(_with_credits(clients, u) for u in found.users))
    return {"users": list(users), "pagination": pagination(page, per_page, found.total)}


@router.get("/users/{user_id}", response_model=UserDoc)
async def get_user(user_id: UserId, admin: AdminUser, clients: ServiceClients) -> dict[str, object]:
    """One user, with their credits (administrators only)."""
    found = await clients.auth.GetUser(auth_pb2.GetUserRequest(user_id=user_id))
    return await _with_credits(clients, found)


@router.patch("/users/{user_id}", response_model=UserDoc)
async def update_user(user_id: UserId, body: UserChange, admin: AdminUser,
                      clients: ServiceClients) -> dict[str, object]:
    """Grant or remove admin rights, disable or enable a user (administrators only; not oneself).
    Disabling stops the user's tokens and key pairs at once."""
    if body.is_admin is None and body.disabled is None:
        raise ApiError("INVALID_REQUEST", "Nothing to change: give is_admin and/or disabled")
    changed = await clients.auth.UpdateUser(auth_pb2.UpdateUserRequest(
        user_id=user_id, is_admin=body.is_admin, disabled=body.disabled, reason=body.reason,
        acting_user_id=admin.user_id))
    return await _with_credits(clients, changed)


@router.post("/users/{user_id}/credits", response_model=CreditsGranted)
async def add_credits(user_id: UserId, body: CreditsBody, admin: AdminUser,
                      clients: ServiceClients) -> dict[str, object]:
    """Grant a user credits (administrators only), recorded with the granting admin."""
    await clients.auth.GetUser(auth_pb2.GetUserRequest(user_id=user_id))  # 404 if unknown
    balance = await clients.billing.GrantCredits(billing_pb2.GrantCreditsRequest(
        user_id=user_id, amount=body.amount, reason=body.reason, granted_by=admin.user_id))
    return {"message": "Credits added successfully", "user_id": user_id,
            "credits": balance.available}


@router.get("/instances", response_model=AnyInstancePage, name="list_all_instances")
async def list_instances(admin: AdminUser, clients: ServiceClients, page: Page = 1,
                         per_page: PerPage = 20,
                         user_id: Annotated[int | None, Query(ge=1, le=2**62)] = None
                         ) -> dict[str, object]:
    """Every user's instances, or one user's (`user_id`), paged (administrators only)."""
    request = auth_pb2.ListInstancesRequest(page=page, per_page=per_page)
    if user_id is None:
        request.all_users = True
    else:
        request.user_id = user_id
    found = await clients.auth.ListInstances(request)
    return {"instances": [{**instance_doc(i), "user_id": i.user_id} for i in found.instances],
            "pagination": pagination(page, per_page, found.total)}
