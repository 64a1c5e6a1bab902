"""What happened to users, in the past tense. Field names match proto/…/auth/v1/events.proto."""

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
