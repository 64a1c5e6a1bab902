"""Session leases in a NATS JetStream KV bucket whose entries expire (bucket TTL).

acquire = create-if-absent (or find our own id there, after a restart with a stable
replica id); renew = compare-and-set on the revision we hold, which rewrites the entry
and so restarts its time to live; release = delete on that revision. A replica that
dies stops renewing, its entries expire after the TTL and another replica's create wins.
"""

from __future__ import annotations

import asyncio
import logging

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)


def _key(device_id: str) -> str:
    return device_id.replace("/", "_")


class KvLeases:
    def __init__(self, js: JetStreamContext, bucket: str, replica_id: str, ttl: float,
                 replicas: int = 1) -> None:
        self.js = js
        self.bucket = bucket
        self.replica_id = replica_id
        self.ttl = ttl
        self.replicas = replicas
        self._kv: KeyValue | None = None
        self._revisions: dict[str, int] = {}
        self._lock = asyncio.Lock()  # one operation at a time: revisions stay in step

    async def open(self) -> KeyValue:
        if self._kv is None:
            try:
                self._kv = await self.js.key_value(self.bucket)
            except BucketNotFoundError:
                self._kv = await self.js.create_key_value(KeyValueConfig(
                    bucket=self.bucket, ttl=self.ttl, history=1, storage=StorageType.FILE,
                    replicas=self.replicas))
        return self._kv

    async def acquire(self, device_id: str) -> bool:
        async with self._lock:
            return await self._acquire(device_id)

    async def _acquire(self, device_id: str) -> bool:
        kv = await self.open()
        try:
            self._revisions[device_id] = await kv.create(_key(device_id),
                                                         self.replica_id.encode())
            return True
        except KeyWrongLastSequenceError:
            return await self._adopt(kv, device_id)
        except KeyNotFoundError:  # the entry lapsed while create looked at it: next pass
            return False

    async def _adopt(self, kv: KeyValue, device_id: str) -> bool:
        """The entry exists: ours (from before a restart) is taken back, theirs is not."""
        try:
            entry = await kv.get(_key(device_id))
        except KeyNotFoundError:
            return False
        if entry.value != self.replica_id.encode() or entry.revision is None:
            return False
        self._revisions[device_id] = entry.revision
        return await self._renew(device_id)

    async def renew(self, device_id: str) -> bool:
        async with self._lock:
            return await self._renew(device_id)

    async def _renew(self, device_id: str) -> bool:
        kv = await self.open()
        last = self._revisions.get(device_id)
        if last is None:
            return False
        try:
            self._revisions[device_id] = await kv.update(_key(device_id),
                                                         self.replica_id.encode(), last=last)
            return True
        except KeyWrongLastSequenceError:
            self._revisions.pop(device_id, None)
            return False

    async def release(self, device_id: str) -> None:
        async with self._lock:
            await self._release(device_id)

    async def _release(self, device_id: str) -> None:
        last = self._revisions.pop(device_id, None)
        if last is None:
            return
        kv = await self.open()
        try:
            await kv.delete(_key(device_id), last=last)
        except Exception:  # lapsed and taken: not ours to delete
            log.info("lease on %s was no longer ours at release", device_id)

    async def holder(self, device_id: str) -> str | None:
        kv = await self.open()
        try:
            entry = await kv.get(_key(device_id))
        except KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None


class SoloLeases:
    """One replica, in process: every lease is ours (component tests, single process)."""

    def __init__(self, replica_id: str = "solo", ttl: float = 10.0) -> None:
        self.replica_id = replica_id
        self.ttl = ttl
        self._held: set[str] = set()

    async def acquire(self, device_id: str) -> bool:
        self._held.add(device_id)
        return True

    async def renew(self, device_id: str) -> bool:
        return device_id in self._held

    async def release(self, device_id: str) -> None:
        self._held.discard(device_id)

    async def holder(self, device_id: str) -> str | None:
        return self.replica_id if device_id in self._held else None
