"""One function per user command or query, each `handle(cmd, deps)` (app/dependencies.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

from kernel.changes import retrying
from kernel.clock import utcnow
from kernel.tokens import Caller
from services.auth.adapters.users import UserDirectory
from services.auth.app.dependencies import AuthDeps, Passwords
from services.auth.app.view import UserEntry
from services.auth.domain import rules
from services.auth.domain.commands import EnsureAdmin, GetUser, Login, Register, VerifyToken
from services.auth.domain.errors import (
    AdminNotGrantedError,
    DirectoryBusyError,
    InvalidCredentialsError,
    InvalidTokenError,
    SignupClosedError,
    UsernameTakenError,
    UserNotFoundError,
)
from services.auth.domain.model import Profile, User


@dataclass(frozen=True)
class Session:
    token: str
    claims: Caller
    user: User


async def register(cmd: Register, deps: AuthDeps) -> User:
    if not (deps.signup_open or cmd.by_operator):
        raise SignupClosedError()
    profile = Profile.checked(cmd.username, cmd.email, cmd.notification_number)
    if (await deps.users.claim(profile.username)).taken:  # fast path; the append decides
        raise UsernameTakenError()
    password_hash = await deps.passwords.hash(rules.valid_password(cmd.password))
    return await _create(deps.users, profile, password_hash, admin=False)


async def login(cmd: Login, deps: AuthDeps) -> Session:
    """Throttled per (username, address) after repeated failures, and per username far
    later (adapters/throttle.py); never tells if the name exists."""
    await deps.throttle.check(cmd.username, cmd.client_address)
    user = await _signed_in(cmd, deps.users, deps.passwords)
    if user is None:
        await deps.throttle.failed(cmd.username, cmd.client_address)
        raise InvalidCredentialsError()
    await deps.throttle.succeeded(cmd.username, cmd.client_address)
    token, claims = deps.tokens.issue(user.user_id, user.username, user.is_admin, time.time())
    return Session(token, claims, user)


async def _signed_in(cmd: Login, users: UserDirectory, passwords: Passwords) -> User | None:
    user = await users.by_username(cmd.username) if _plausible(cmd) else None
    if user is None:
        await passwords.verify_nobody(cmd.password[:rules.PASSWORD_MAX])
        return None
    if not await passwords.verify(user.password_hash, cmd.password) or not user.can_sign_in:
        return None
    return user


async def verify_token(query: VerifyToken, deps: AuthDeps) -> tuple[UserEntry, Caller]:
    """A valid token of a user who exists and is not disabled, as they stand now."""
    claims = deps.tokens.read(query.token)
    user = (await deps.feed.fresh()).active_user(claims.user_id)
    if user is None:
        raise InvalidTokenError()
    return user, claims


async def get_user(query: GetUser, deps: AuthDeps) -> UserEntry:
    user = (await deps.feed.fresh()).user(query.user_id)
    if user is None:
        raise UserNotFoundError()
    return user


async def ensure_admin(cmd: EnsureAdmin, deps: AuthDeps) -> User:
    """The admin `cmd` names, created with its password if new. Admin rights never go
    without that password: an existing user must have it, and is made admin only when
    `cmd.promote` says so (an operator's act); otherwise it is returned as it stands."""
    for _ in range(2):  # a replica starting alongside may create it in between
        existing = await deps.users.by_username(cmd.username)
        if existing is not None:
            return await _as_admin(cmd, existing, deps.users, deps.passwords)
        profile = Profile.checked(cmd.username)
        password_hash = await deps.passwords.hash(rules.valid_password(cmd.password))
        try:
            return await _create(deps.users, profile, password_hash, admin=True)
        except UsernameTakenError:
            continue
    raise DirectoryBusyError()


async def _as_admin(cmd: EnsureAdmin, user: User, users: UserDirectory,
                    passwords: Passwords) -> User:
    if not await passwords.verify(user.password_hash, cmd.password):
        raise AdminNotGrantedError()
    if user.is_admin or not cmd.promote:
        return user
    return await retrying(partial(_grant_admin, users, user.user_id),
                          busy=DirectoryBusyError)


def _plausible(cmd: Login) -> bool:
    return bool(rules.USERNAME.fullmatch(cmd.username)) and len(cmd.password) <= rules.PASSWORD_MAX


async def _create(users: UserDirectory, profile: Profile, password_hash: str,
                  admin: bool) -> User:
    """Allocate an id, claim the name and open the user's stream in one append."""

    async def attempt() -> User:
        claim = await users.claim(profile.username)
        if claim.taken:
            raise UsernameTakenError()
        ids = await users.user_ids()
        user = User.register(ids.allocate(), profile, password_hash, utcnow())
        claim.claim(profile.username, user.user_id)
        if admin:
            user.grant_admin()
        await users.save(ids, claim, user)
        return user

    async with users.registering:
        return await retrying(attempt, busy=DirectoryBusyError)


async def _grant_admin(users: UserDirectory, user_id: int) -> User:
    user = await users.user(user_id)
    user.grant_admin()
    await users.save(user)
    return user
