"""Login throttling, shared by every auth replica through a NATS KV bucket.

Failed sign-ins are counted twice, in sliding windows of `window_seconds`: per (username,
client address), where `max_failures` (5) locks that pair, and per username, where a far
higher `max_per_user` (100) is the ceiling for everyone together. A stranger guessing from
their own address therefore locks only themselves out, not the account's owner, while a
spread-out attack still meets the ceiling. Usernames count whether they exist or not (the
answer must not tell). Each key keeps the times of its recent failures, updated by
compare-and-set on its revision; keys are hashes, and expire a window after their last
failure. A success clears its (username, address) record only.

When NATS does not answer within `TIMEOUT` the throttle fails closed: sign-in answers
UNAVAILABLE (503, retry shortly) rather than let a possibly locked account in, and no
password is checked meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable
from typing import TypeVar

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from kernel.errors import UnavailableError
from services.auth.domain.errors import LoginThrottledError
from services.auth.domain.rules import name_key

log = logging.getLogger(__name__)
ATTEMPTS = 10
# A stalled NATS, not a slow moment: a busy host can take a second to answer, and each
# false alarm would refuse a sign-in that should have gone through.
TIMEOUT = 2.5
NatsTrouble = (nats.errors.Error, TimeoutError, OSError)
T = TypeVar("T")


async def open_bucket(js: JetStreamContext, bucket: str, ttl: float,
                      replicas: int) -> KeyValue:
    try:
        return await js.create_key_value(bucket=bucket, history=1, ttl=ttl, replicas=replicas)
    except BadRequestError:  # exists with another configuration: use it as it is
        return await js.key_value(bucket)


class KvLoginThrottle:
    def __init__(self, kv: KeyValue, max_failures: int, window_seconds: float,
                 max_per_user: int = 100) -> None:
        self.kv = kv
        self.window = window_seconds
        self.limits = (max_failures, max(max_per_user, max_failures))

    async def check(self, username: str, address: str) -> None:
        """RATE_LIMITED while either count is full; UNAVAILABLE when NATS cannot tell."""
        keys = _keys(username, address)
        try:
            found = await _within(asyncio.gather(*(self._read(k) for k in keys)))
        except NatsTrouble as exc:
            log.warning("login throttle unavailable (%s); refusing sign-in",
                        type(exc).__name__)
            raise UnavailableError("Sign-in is briefly unavailable; retry shortly") from exc
        now = time.time()
        waits = [self._wait(times, limit, now)
                 for (_, times), limit in zip(found, self.limits, strict=True)]
        if max(waits) > 0:
            raise LoginThrottledError(max(1, math.ceil(max(waits))))

    def _wait(self, times: list[float], limit: int, now: float) -> float:
        recent = [t for t in times if t > now - self.window]
        return recent[-limit] + self.window - now if len(recent) >= limit else 0.0

    async def failed(self, username: str, address: str) -> None:
        try:
            for key, limit in zip(_keys(username, address), self.limits, strict=True):
                await _within(self._record(key, limit))
        except NatsTrouble as exc:
            log.warning("login throttle unavailable (%s); failure not counted",
                        type(exc).__name__)

    async def succeeded(self, username: str, address: str) -> None:
        key = _keys(username, address)[0]
        try:
            revision, _ = await _within(self._read(key))
            if revision:
                await _within(self.kv.delete(key))
        except NatsTrouble as exc:
            log.warning("login throttle unavailable (%s)", type(exc).__name__)

    async def _record(self, key: str, limit: int) -> None:
        for _ in range(ATTEMPTS):
            revision, times = await self._read(key)
            now = time.time()
            recent = [t for t in times if t > now - self.window]
            if await self._write(key, revision, [*recent[max(0, len(recent) - limit + 1):],
                                                 now]):
                return

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
    async def check(self, username: str, address: str) -> None:
        return None

    async def failed(self, username: str, address: str) -> None:
        return None

    async def succeeded(self, username: str, address: str) -> None:
        return None


async def _within(work: Awaitable[T]) -> T:
    return await asyncio.wait_for(work, TIMEOUT)


def _keys(username: str, address: str) -> tuple[str, str]:
    """(the (username, address) key, the username's key)."""
    name = name_key(username)
    return _hashed(f"{name}\n{address}"), _hashed(name)


def _hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]
