"""Admin management of users: listing, and changing their standing; each handler is
`handle(cmd, deps)`."""

from __future__ import annotations

from kernel.changes import retrying
from services.auth.adapters.users import UserDirectory
from services.auth.app.dependencies import AuthDeps
from services.auth.app.view import UserEntry
from services.auth.domain.commands import DisableUser, ListUsers, UpdateUser
from services.auth.domain.errors import DirectoryBusyError, UserNotFoundError
from services.auth.domain.model import User

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


def page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """Page 1 and 20 a page unless asked otherwise; at most MAX_PER_PAGE."""
    size = min(per_page, MAX_PER_PAGE) if per_page > 0 else DEFAULT_PER_PAGE
    return max(page, 1), size


async def list_users(query: ListUsers, deps: AuthDeps) -> tuple[list[UserEntry], int]:
    return (await deps.feed.fresh()).users_page(*page_bounds(query.page, query.per_page))


async def update_user(cmd: UpdateUser, deps: AuthDeps) -> User:
    async def change() -> User:
        user = await _existing(deps.users, cmd.user_id)
        user.change_access(cmd.acting_user_id, cmd.is_admin, cmd.disabled, cmd.reason)
        await deps.users.save(user)
        return user

    return await retrying(change, busy=DirectoryBusyError)


async def disable_user(cmd: DisableUser, deps: AuthDeps) -> User:
    async def change() -> User:
        user = await _existing(deps.users, cmd.user_id)
        user.disable(cmd.reason)
        await deps.users.save(user)
        return user

    return await retrying(change, busy=DirectoryBusyError)


async def _existing(users: UserDirectory, user_id: int) -> User:
    user = await users.user(user_id) if user_id > 0 else None
    if user is None or not user.exists:
        raise UserNotFoundError()
    return user
