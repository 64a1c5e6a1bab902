"""Messaging API: /api/auth/register and /api/auth/login."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from gateway.deps import ServiceClients
from switchboard.auth.v1 import auth_pb2
from switchboard.billing.v1 import billing_pb2

router = APIRouter(prefix="/api/auth", tags=["auth"])


class RegisterBody(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)
    email: str | None = Field(default=None, max_length=320)
    notification_number: str | None = Field(default=None, max_length=32)


class LoginBody(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


@router.post("/register", status_code=201)
async def register(body: RegisterBody, clients: ServiceClients) -> dict[str, object]:
    created = await clients.auth.Register(auth_pb2.RegisterRequest(
        username=body.username, password=body.password, email=body.email or "",
        notification_number=body.notification_number or ""))
    return {"message": "User created successfully", "user_id": created.user_id}


@router.post("/login")
async def login(body: LoginBody, request: Request, clients: ServiceClients) -> dict[str, object]:
    client = request.client.host if request.client else ""
    session = await clients.auth.Login(auth_pb2.LoginRequest(
        username=body.username, password=body.password, client_address=client))
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
