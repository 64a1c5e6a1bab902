"""What happened to users and instances, in the past tense. Field names match
proto/switchboard/auth/v1/events.proto."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class UserIdAllocated:
    user_id: int


@dataclass(frozen=True)
class UsernameClaimed:
    username: str
    user_id: int


@dataclass(frozen=True)
class UserRegistered:
    user_id: int
    username: str
    email: str
    notification_number: str
    registered_at: datetime | None


@dataclass(frozen=True)
class PasswordSet:
    user_id: int
    password_hash: str


@dataclass(frozen=True)
class AdminGranted:
    user_id: int


@dataclass(frozen=True)
class UserDisabled:
    user_id: int
    reason: str


@dataclass(frozen=True)
class UserEnabled:
    user_id: int


@dataclass(frozen=True)
class AdminRevoked:
    user_id: int


@dataclass(frozen=True)
class InstanceNumberAllocated:
    id: int


@dataclass(frozen=True)
class PublicKeyClaimed:
    public_key: str
    instance_id: str


@dataclass(frozen=True)
class InstanceCreated:
    instance_id: str
    id: int
    user_id: int
    instance_name: str
    public_key: str
    secret_hash: str
    created_at: datetime | None


@dataclass(frozen=True)
class InstanceKeysRotated:
    instance_id: str
    public_key: str
    secret_hash: str
    user_id: int


@dataclass(frozen=True)
class InstanceDeleted:
    instance_id: str
    user_id: int
