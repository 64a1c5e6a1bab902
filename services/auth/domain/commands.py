"""What callers ask the auth service to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Register:
    username: str
    password: str
    email: str = ""
    notification_number: str = ""


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    client_address: str = ""


@dataclass(frozen=True)
class EnsureAdmin:
    username: str
    password: str


@dataclass(frozen=True)
class DisableUser:
    user_id: int
    reason: str = ""
