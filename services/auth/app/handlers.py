"""One function per auth command; dependencies come in as parameters."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol, TypeVar

from kernel.eventstore import ConcurrencyError
from services.auth.adapters.users import UserDirectory
from services.auth.app.tokens import Claims, SigningKey, issue_token, read_token
from services.auth.domain import rules
from services.auth.domain.commands import DisableUser, EnsureAdmin, Login, Register
from services.auth.domain.errors import (
    DirectoryBusyError,
    InvalidCredentialsError,
    InvalidTokenError,
    UsernameTakenError,
    UserNotFoundError,
)
from services.auth.domain.model import Profile, User

MAX_ATTEMPTS = 20
T = TypeVar("T")


class Passwords(Protocol):
    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...
    async def verify_nobody(self, password: str) -> bool: ...


@dataclass(frozen=True)
class Session:
    token: str
    claims: Claims
    user: User


async def register(cmd: Register, users: UserDirectory, passwords: Passwords) -> User:
    profile = Profile.checked(cmd.username, cmd.email, cmd.notification_number)
    if (await users.claim(profile.username)).taken:  # fast path; the append decides
        raise UsernameTakenError()
    password_hash = await passwords.hash(rules.valid_password(cmd.password))
    return await _create(users, profile, password_hash, admin=False)


async def login(cmd: Login, users: UserDirectory, passwords: Passwords,
                key: SigningKey) -> Session:
    user = await users.by_username(cmd.username) if _plausible(cmd) else None
    if user is None:
        await passwords.verify_nobody(cmd.password[:rules.PASSWORD_MAX])
        raise InvalidCredentialsError()
    if not await passwords.verify(user.password_hash, cmd.password) or not user.can_sign_in:
        raise InvalidCredentialsError()
    token, claims = issue_token(key, user.user_id, user.username, user.is_admin, time.time())
    return Session(token, claims, user)


async def verify_token(token: str, users: UserDirectory, key: SigningKey) -> tuple[User, Claims]:
    claims = read_token(key, token)
    user = await users.user(claims.user_id) if claims.user_id > 0 else None
    if user is None or not user.can_sign_in:
        raise InvalidTokenError()
    return user, claims


async def get_user(user_id: int, users: UserDirectory) -> User:
    user = await users.user(user_id) if user_id > 0 else None
    if user is None or not user.exists:
        raise UserNotFoundError()
    return user


async def ensure_admin(cmd: EnsureAdmin, users: UserDirectory, passwords: Passwords) -> User:
    existing = await users.by_username(cmd.username)
    if existing is None:
        profile = Profile.checked(cmd.username)
        password_hash = await passwords.hash(rules.valid_password(cmd.password))
        return await _create(users, profile, password_hash, admin=True)
    return await _retrying(partial(_grant_admin, users, existing.user_id))


async def disable_user(cmd: DisableUser, users: UserDirectory) -> User:
    async def change() -> User:
        user = await get_user(cmd.user_id, users)
        user.disable(cmd.reason)
        await users.save(user)
        return user

    return await _retrying(change)


def _plausible(cmd: Login) -> bool:
    return bool(rules.USERNAME.fullmatch(cmd.username)) and len(cmd.password) <= rules.PASSWORD_MAX


async def _create(users: UserDirectory, profile: Profile, password_hash: str,
                  admin: bool) -> User:
    """Allocate an id, claim the name and open the user's stream in one append."""
    async with users.registering:
        for _ in range(MAX_ATTEMPTS):
            claim = await users.claim(profile.username)
            if claim.taken and admin:
                return await _retrying(partial(_grant_admin, users, claim.user_id))
            if claim.taken:
                raise UsernameTakenError()
            ids = await users.user_ids()
            user = User.register(ids.allocate(), profile, password_hash, datetime.now(UTC))
            claim.claim(profile.username, user.user_id)
            if admin:
                user.grant_admin()
            try:
                await users.save(ids, claim, user)
                return user
            except ConcurrencyError:
                continue
    raise DirectoryBusyError()


async def _grant_admin(users: UserDirectory, user_id: int) -> User:
    user = await users.user(user_id)
    user.grant_admin()
    await users.save(user)
    return user


async def _retrying(change: Callable[[], Awaitable[T]]) -> T:
    for _ in range(MAX_ATTEMPTS):
        try:
            return await change()
        except ConcurrencyError:
            continue
    raise DirectoryBusyError()
