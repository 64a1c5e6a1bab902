"""Messaging API: /api/auth/register and /api/auth/login, limited per client address.

A username whose sign-ins keep failing is throttled by auth itself (RATE_LIMITED with a
retry time, whether or not the name exists); both limits answer 429 with `Retry-After`
(auth's, as every service's refusal, in gateway/errors.py).
"""

from __future__ import annotations

from fastapi import Request
from pydantic import Field

from gateway.deps import AddressLimit, ServiceClients, client_address
from gateway.leanroute import api_router
from gateway.shapes import Registered, SignedIn, refusals
from gateway.text import RequestBody
from switchboard.auth.v1 import auth_pb2
from switchboard.billing.v1 import billing_pb2

router = api_router(prefix="/api/auth", tags=["auth"], dependencies=[AddressLimit],
                   responses=refusals())


class RegisterBody(RequestBody):
    username: str = Field(max_length=200, examples=["newuser"])
    password: str = Field(max_length=1000, examples=["securepassword"])
    email: str | None = Field(default=None, max_length=320, examples=["newuser@example.com"])
    notification_number: str | None = Field(default=None, max_length=32,
                                            examples=["27821234567"])


class LoginBody(RequestBody):
    username: str = Field(max_length=200, examples=["demo"])
    password: str = Field(max_length=1000, examples=["password123"])


@router.post("/register", status_code=201, response_model=Registered,
             responses=refusals(403))
async def register(body: RegisterBody, clients: ServiceClients) -> dict[str, object]:
    """Create an account: a username of 3-50 letters, digits, `.`, `_` or `-`, unique ignoring case,
    and a password of 10-128 characters that is not a common one. 403 FORBIDDEN while sign-up is
    closed (SWITCHBOARD_SIGNUP=closed)."""
    created = await clients.auth.Register(auth_pb2.RegisterRequest(
        username=body.username, password=body.password, email=body.email or "",
        notification_number=body.notification_number or ""))
    return {"message": "User created successfully", "user_id": created.user_id}


@router.post("/login", response_model=SignedIn, responses=refusals(401))
async def login(body: LoginBody, request: Request, clients: ServiceClients) -> dict[str, object]:
    """Sign in: the JWT to send as `Authorization: Bearer <access_token>`, and the user's credits.
    Any failure is the same 401 UNAUTHORIZED; repeated failures for one name from one address are
    429 RATE_LIMITED with Retry-After."""
    session = await clients.auth.Login(auth_pb2.LoginRequest(
        username=body.username, password=body.password, client_address=client_address(request)))
    balance = await clients.billing.GetBalance(
        billing_pb2.GetBalanceRequest(user_id=session.user.user_id))
    return {
        "access_token": session.access_token,
        "token_type": "Bearer",
        "user_id": session.user.user_id,
        "username": session.user.username,
        "credits": balance.available,
        "is_admin": session.user.is_admin,
    }
