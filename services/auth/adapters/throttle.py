"""Login throttling per username, shared by every auth replica through a NATS KV bucket.

Each username (known or not: the answer must not tell) keeps the times of its last
`max_failures` failed sign-ins, a sliding window: once that many fall inside the window,
further attempts are refused until the oldest leaves it. Updates are compare-and-set on
the key's revision. Keys are hashes of the lowercased name, and expire a window after
their last failure. A success clears the record. If NATS cannot answer, sign-in goes on
(fail open) and a warning is logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.auth.domain.errors import LoginThrottledError
from services.auth.domain.rules import name_key

log = logging.getLogger(__name__)
ATTEMPTS = 10
NatsTrouble = (nats.errors.Error, TimeoutError)


async def open_bucket(js: JetStreamContext, bucket: str, ttl: float,
                      replicas: int) -> KeyValue:
    try:
        return await js.create_key_value(bucket=bucket, history=1, ttl=ttl, replicas=replicas)
    except BadRequestError:  # exists with another configuration: use it as it is
        return await js.key_value(bucket)


class KvLoginThrottle:
    def __init__(self, kv: KeyValue, max_failures: int, window_seconds: float) -> None:
        self.kv = kv
        self.max_failures = max_failures
        self.window = window_seconds

    async def check(self, username: str) -> None:
        try:
            _, times = await self._read(_key(username))
        except NatsTrouble as exc:
            log.warning("login throttle unavailable (%s); not throttling", type(exc).__name__)
            return
        now = time.time()
        recent = [t for t in times if t > now - self.window]
        if len(recent) >= self.max_failures:
            retry_after = recent[-self.max_failures] + self.window - now
            raise LoginThrottledError(max(1, math.ceil(retry_after)))

    async def failed(self, username: str) -> None:
        key = _key(username)
        try:
            for _ in range(ATTEMPTS):
                revision, times = await self._read(key)
                now = time.time()
                recent = [t for t in times if t > now - self.window]
                kept = recent[max(0, len(recent) - self.max_failures + 1):]
                if await self._write(key, revision, [*kept, now]):
                    return
        except NatsTrouble as exc:
            log.warning("login throttle unavailable (%s); failure not counted",
                        type(exc).__name__)

    async def succeeded(self, username: str) -> None:
        key = _key(username)
        try:
            revision, _ = await self._read(key)
            if revision:
                await self.kv.delete(key)
        except NatsTrouble as exc:
            log.warning("login throttle unavailable (%s)", type(exc).__name__)

    async def _read(self, key: str) -> tuple[int, list[float]]:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return 0, []
        return entry.revision or 0, [float(t) for t in json.loads(entry.value or b"[]")]

    async def _write(self, key: str, revision: int, times: list[float]) -> bool:
        value = json.dumps(times).encode()
        try:
            if revision:
                await self.kv.update(key, value, last=revision)
            else:
                await self.kv.create(key, value)
            return True
        except KeyWrongLastSequenceError:
            return False


class NoThrottle:
    async def check(self, username: str) -> None:
        return None

    async def failed(self, username: str) -> None:
        return None

    async def succeeded(self, username: str) -> None:
        return None


def _key(username: str) -> str:
    return hashlib.sha256(name_key(username).encode()).hexdigest()[:40]
