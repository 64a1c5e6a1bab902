"""The directory every read answers from: users' standing and live instances by public key.

A pure fold of auth's own events, kept in memory; adapters/view_feed.py feeds it from the
event store before each read, so every replica answers as of the latest commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.auth.domain import events


@dataclass(frozen=True)
class UserEntry:
    user_id: int
    username: str
    email: str
    notification_number: str
    created_at: datetime | None
    is_admin: bool = False
    disabled: bool = False


@dataclass(frozen=True)
class InstanceEntry:
    instance_id: str
    id: int
    user_id: int
    instance_name: str
    public_key: str
    secret_hash: str
    created_at: datetime | None


class DirectoryView:
    def __init__(self) -> None:
        self.users: dict[int, UserEntry] = {}
        self.instances: dict[str, InstanceEntry] = {}
        self.by_public_key: dict[str, str] = {}

    def apply(self, event: Any) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def user(self, user_id: int) -> UserEntry | None:
        return self.users.get(user_id)

    def active_user(self, user_id: int) -> UserEntry | None:
        user = self.users.get(user_id)
        return user if user is not None and not user.disabled else None

    def by_key(self, public_key: str) -> InstanceEntry | None:
        instance_id = self.by_public_key.get(public_key)
        return self.instances.get(instance_id) if instance_id else None

    def users_page(self, page: int, per_page: int) -> tuple[list[UserEntry], int]:
        ids = sorted(self.users)
        start = (page - 1) * per_page
        return [self.users[i] for i in ids[start:start + per_page]], len(ids)

    def instances_page(self, user_id: int | None, page: int,
                       per_page: int) -> tuple[list[InstanceEntry], int]:
        chosen = sorted((i for i in self.instances.values()
                         if user_id is None or i.user_id == user_id), key=lambda i: i.id)
        start = (page - 1) * per_page
        return chosen[start:start + per_page], len(chosen)

    def _on_UserRegistered(self, e: events.UserRegistered) -> None:
        self.users[e.user_id] = UserEntry(e.user_id, e.username, e.email,
                                          e.notification_number, e.registered_at)

    def _set_user(self, user_id: int, **changes: Any) -> None:
        if user_id in self.users:
            self.users[user_id] = replace(self.users[user_id], **changes)

    def _on_AdminGranted(self, e: events.AdminGranted) -> None:
        self._set_user(e.user_id, is_admin=True)

    def _on_AdminRevoked(self, e: events.AdminRevoked) -> None:
        self._set_user(e.user_id, is_admin=False)

    def _on_UserDisabled(self, e: events.UserDisabled) -> None:
        self._set_user(e.user_id, disabled=True)

    def _on_UserEnabled(self, e: events.UserEnabled) -> None:
        self._set_user(e.user_id, disabled=False)

    def _on_InstanceCreated(self, e: events.InstanceCreated) -> None:
        self.instances[e.instance_id] = InstanceEntry(
            e.instance_id, e.id, e.user_id, e.instance_name, e.public_key, e.secret_hash,
            e.created_at)
        self.by_public_key[e.public_key] = e.instance_id

    def _on_InstanceKeysRotated(self, e: events.InstanceKeysRotated) -> None:
        old = self.instances.get(e.instance_id)
        if old is None:
            return
        self.by_public_key.pop(old.public_key, None)
        self.instances[e.instance_id] = replace(old, public_key=e.public_key,
                                                secret_hash=e.secret_hash)
        self.by_public_key[e.public_key] = e.instance_id

    def _on_InstanceDeleted(self, e: events.InstanceDeleted) -> None:
        old = self.instances.pop(e.instance_id, None)
        if old is not None:
            self.by_public_key.pop(old.public_key, None)
