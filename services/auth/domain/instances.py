"""Instances (Instance API): each has one key pair; a public key is claimed for good.

Stream "instance-<instance_id>" holds an instance's life; "publickey-<key>" makes a public
key unique; "instance-numbers" hands out the sequential number the Instance API shows.
"""

from __future__ import annotations

from datetime import datetime

from kernel.aggregate import Aggregate
from services.auth.domain.errors import InstanceNotFoundError, KeyTakenError
from services.auth.domain.events import (
    InstanceCreated,
    InstanceDeleted,
    InstanceKeysRotated,
    InstanceNumberAllocated,
    PublicKeyClaimed,
)

INSTANCE_NUMBERS = "numbers"


class InstanceNumbers(Aggregate):
    """Stream "instance-numbers": the n-th allocation is instance number n."""

    stream_prefix = "instance"

    def allocate(self) -> int:
        self._record(InstanceNumberAllocated(id=self.version + 1))
        return self.version

    def when_InstanceNumberAllocated(self, event: InstanceNumberAllocated) -> None:
        pass


class PublicKeyClaim(Aggregate):
    stream_prefix = "publickey"

    def claim(self, public_key: str, instance_id: str) -> None:
        if self.version > 0:
            raise KeyTakenError()
        self._record(PublicKeyClaimed(public_key=public_key, instance_id=instance_id))

    def when_PublicKeyClaimed(self, event: PublicKeyClaimed) -> None:
        pass


class Instance(Aggregate):
    stream_prefix = "instance"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.number = 0
        self.user_id = 0
        self.instance_name = ""
        self.public_key = ""
        self.secret_hash = ""
        self.created_at: datetime | None = None
        self.deleted = False

    @property
    def instance_id(self) -> str:
        return self.id

    @classmethod
    def create(cls, instance_id: str, number: int, user_id: int, name: str,
               public_key: str, secret_hash: str, now: datetime) -> Instance:
        instance = cls(instance_id)
        instance._record(InstanceCreated(instance_id, number, user_id, name, public_key,
                                         secret_hash, now))
        return instance

    def check_access(self, user_id: int, as_admin: bool) -> None:
        """Unknown, deleted and foreign instances look the same: not found."""
        if self.version == 0 or self.deleted or (user_id != self.user_id and not as_admin):
            raise InstanceNotFoundError()

    def rotate_keys(self, public_key: str, secret_hash: str) -> None:
        self._record(InstanceKeysRotated(self.id, public_key, secret_hash, self.user_id))

    def delete(self) -> None:
        self._record(InstanceDeleted(self.id, self.user_id))

    def when_InstanceCreated(self, event: InstanceCreated) -> None:
        self.number = event.id
        self.user_id = event.user_id
        self.instance_name = event.instance_name
        self.public_key = event.public_key
        self.secret_hash = event.secret_hash
        self.created_at = event.created_at

    def when_InstanceKeysRotated(self, event: InstanceKeysRotated) -> None:
        self.public_key = event.public_key
        self.secret_hash = event.secret_hash

    def when_InstanceDeleted(self, event: InstanceDeleted) -> None:
        self.deleted = True
