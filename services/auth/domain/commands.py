"""What callers ask the auth service to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Register:
    username: str
    password: str
    email: str = ""
    notification_number: str = ""
    by_operator: bool = False  # an operator's registration, allowed while sign-up is closed


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    client_address: str = ""


@dataclass(frozen=True)
class EnsureAdmin:
    """An admin of this name: created with `password`, or (only with `promote`, an
    operator's explicit act) an existing user made admin if `password` is theirs."""

    username: str
    password: str
    promote: bool = False


@dataclass(frozen=True)
class DisableUser:
    user_id: int
    reason: str = ""


@dataclass(frozen=True)
class UpdateUser:
    user_id: int
    acting_user_id: int
    is_admin: bool | None = None
    disabled: bool | None = None
    reason: str = ""


@dataclass(frozen=True)
class CreateInstance:
    user_id: int
    instance_name: str


@dataclass(frozen=True)
class InstanceRef:
    """An instance as its owner (or, with as_admin, any admin) names it."""

    user_id: int
    instance_id: str
    as_admin: bool = False


@dataclass(frozen=True)
class AuthenticateInstance:
    public_key: str
    secret_key: str


# Queries


@dataclass(frozen=True)
class VerifyToken:
    token: str


@dataclass(frozen=True)
class GetUser:
    user_id: int


@dataclass(frozen=True)
class ListUsers:
    page: int = 1
    per_page: int = 0  # 0: the default page size


@dataclass(frozen=True)
class ListInstances:
    """One user's instances, or (user_id None) everyone's."""

    user_id: int | None
    page: int = 1
    per_page: int = 0
