"""Users, the usernames they claim, and the counter that hands out their ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kernel.aggregate import Aggregate
from services.auth.domain import rules
from services.auth.domain.errors import SelfLockoutError, UsernameTakenError
from services.auth.domain.events import (
    AdminGranted,
    AdminRevoked,
    PasswordSet,
    UserDisabled,
    UserEnabled,
    UserIdAllocated,
    UsernameClaimed,
    UserRegistered,
)

USER_IDS = "ids"


@dataclass(frozen=True)
class Profile:
    """Checked registration details."""

    username: str
    email: str = ""
    notification_number: str = ""

    @classmethod
    def checked(cls, username: str, email: str = "", notification_number: str = "") -> Profile:
        return cls(rules.valid_username(username), rules.valid_email(email),
                   rules.valid_notification_number(notification_number))


class UserIds(Aggregate):
    """Stream "user-ids": the n-th allocation is user id n."""

    stream_prefix = "user"

    def allocate(self) -> int:
        self._record(UserIdAllocated(user_id=self.version + 1))
        return self.version

    def when_UserIdAllocated(self, event: UserIdAllocated) -> None:
        pass


class UsernameClaim(Aggregate):
    """Stream "username-<lowercased>": its first event makes the name taken for good."""

    stream_prefix = "username"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.user_id = 0

    @property
    def taken(self) -> bool:
        return self.version > 0

    def claim(self, username: str, user_id: int) -> None:
        if self.taken:
            raise UsernameTakenError()
        self._record(UsernameClaimed(username=username, user_id=user_id))

    def when_UsernameClaimed(self, event: UsernameClaimed) -> None:
        self.user_id = event.user_id


class User(Aggregate):
    """Stream "user-<id>"."""

    stream_prefix = "user"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.username = ""
        self.email = ""
        self.notification_number = ""
        self.password_hash = ""
        self.is_admin = False
        self.disabled = False
        self.created_at: datetime | None = None

    @property
    def user_id(self) -> int:
        return int(self.id)

    @property
    def exists(self) -> bool:
        return self.version > 0

    @property
    def can_sign_in(self) -> bool:
        return self.exists and not self.disabled

    @classmethod
    def register(cls, user_id: int, profile: Profile, password_hash: str,
                 now: datetime) -> User:
        user = cls(str(user_id))
        user._record(UserRegistered(user_id, profile.username, profile.email,
                                    profile.notification_number, now))
        user._record(PasswordSet(user_id, password_hash))
        return user

    def grant_admin(self) -> None:
        if not self.is_admin:
            self._record(AdminGranted(self.user_id))

    def revoke_admin(self) -> None:
        if self.is_admin:
            self._record(AdminRevoked(self.user_id))

    def disable(self, reason: str) -> None:
        if not self.disabled:
            self._record(UserDisabled(self.user_id, reason))

    def enable(self) -> None:
        if self.disabled:
            self._record(UserEnabled(self.user_id))

    def change_access(self, acting_user_id: int, is_admin: bool | None = None,
                      disabled: bool | None = None, reason: str = "") -> None:
        """An admin's change; none may lock themselves out."""
        if acting_user_id == self.user_id and (is_admin is False or disabled is True):
            raise SelfLockoutError()
        if is_admin is True:
            self.grant_admin()
        elif is_admin is False:
            self.revoke_admin()
        if disabled is True:
            self.disable(reason)
        elif disabled is False:
            self.enable()

    def when_UserRegistered(self, event: UserRegistered) -> None:
        self.username = event.username
        self.email = event.email
        self.notification_number = event.notification_number
        self.created_at = event.registered_at

    def when_PasswordSet(self, event: PasswordSet) -> None:
        self.password_hash = event.password_hash

    def when_AdminGranted(self, event: AdminGranted) -> None:
        self.is_admin = True

    def when_AdminRevoked(self, event: AdminRevoked) -> None:
        self.is_admin = False

    def when_UserDisabled(self, event: UserDisabled) -> None:
        self.disabled = True

    def when_UserEnabled(self, event: UserEnabled) -> None:
        self.disabled = False
