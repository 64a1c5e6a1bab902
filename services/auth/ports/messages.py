"""Auth's answers as protobuf: users and instances, from aggregates or the directory view."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from switchboard.auth.v1 import auth_pb2


class UserLike(Protocol):
    @property
    def user_id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def notification_number(self) -> str: ...
    @property
    def is_admin(self) -> bool: ...
    @property
    def disabled(self) -> bool: ...
    @property
    def created_at(self) -> datetime | None: ...


class InstanceLike(Protocol):
    @property
    def instance_id(self) -> str: ...
    @property
    def user_id(self) -> int: ...
    @property
    def instance_name(self) -> str: ...
    @property
    def public_key(self) -> str: ...
    @property
    def created_at(self) -> datetime | None: ...


def user_pb(user: UserLike) -> auth_pb2.User:
    msg = auth_pb2.User(user_id=user.user_id, username=user.username, email=user.email,
                        notification_number=user.notification_number,
                        is_admin=user.is_admin, disabled=user.disabled)
    if user.created_at is not None:
        msg.created_at.FromDatetime(user.created_at)
    return msg


def instance_pb(instance: InstanceLike, number: int) -> auth_pb2.Instance:
    msg = auth_pb2.Instance(instance_id=instance.instance_id, id=number,
                            user_id=instance.user_id, instance_name=instance.instance_name,
                            public_key=instance.public_key)
    if instance.created_at is not None:
        msg.created_at.FromDatetime(instance.created_at)
    return msg
