"""Rate limits in fixed windows, shared by every replica through a NATS JetStream KV bucket;
used by the gateway for each REST route class and by every service's gRPC edge for calls
made with a user token (kernel/guard.py), so a user has one budget per class either way.

Windows are aligned to the clock (`rate_limit_window_seconds`, 60 by default): each
(class, window, subject) has its own key holding the count so far, so nothing is ever reset
and old keys simply expire with the bucket's TTL. A request takes one unit by
compare-and-set on the key's revision (create when absent, update at the last revision seen,
re-read on conflict), so replicas never over-admit. On one replica, requests for a key that
arrive while its update is in flight are batched into the next update, and a key already
known to be full is refused without asking NATS (counts only grow within a window).

When NATS does not answer within `TIMEOUT`, the limiter does not fail open: it counts in
this process instead (each replica then allows at most the limit on its own) and leaves
NATS alone for `OUTAGE_SECONDS` before trying it again; a warning is logged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from kernel.config import Settings
from kernel.errors import ThrottledError

log = logging.getLogger(__name__)
TIMEOUT = 2.0  # a slow answer (a starved machine) is still an answer: only silence is an outage
OUTAGE_SECONDS = 5.0
CAS_ATTEMPTS = 16
CLASSES = ("auth", "messages", "bulk", "status", "other")


class RateLimitedError(ThrottledError):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(f"Rate limit exceeded: {verdict.limit} requests per "
                         f"{verdict.window} seconds; retry in {verdict.reset_after} seconds",
                         retry_after=verdict.reset_after)
        self.verdict = verdict


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int
    window: int

    def headers(self) -> dict[str, str]:
        headers = {"X-RateLimit-Limit": str(self.limit),
                   "X-RateLimit-Remaining": str(self.remaining),
                   "X-RateLimit-Reset": str(self.reset_after)}
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


@dataclass
class _Key:
    count: int = 0  # as last written to or read from NATS
    offline: int = 0  # units granted by this process while NATS was away
    revision: int = 0
    busy: bool = False
    waiting: list[asyncio.Future[bool]] = field(default_factory=list)

    @property
    def used(self) -> int:
        return self.count + self.offline


class WindowCounters:
    """Counters of one window each, in a KV bucket; see the module's docstring."""

    def __init__(self, kv: KeyValue, timeout: float = TIMEOUT,
                 outage_seconds: float = OUTAGE_SECONDS) -> None:
        self.kv = kv
        self.timeout = timeout
        self.outage_seconds = outage_seconds
        self._windows: dict[int, dict[str, _Key]] = {}
        self._nats_back_at = 0.0

    async def take(self, key: str, limit: int, window: int) -> tuple[bool, int]:
        """Take one unit of `limit` from `key` (of window number `window`): allowed?, and
        the count as last seen."""
        state = self._state(key, window)
        if state.used >= limit:
            return False, state.used
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        state.waiting.append(waiter)
        if not state.busy:
            state.busy = True
            asyncio.get_running_loop().create_task(self._drain(key, state, limit))
        return await waiter, state.used

    def _state(self, key: str, window: int) -> _Key:
        keys = self._windows.get(window)
        if keys is None:
            keys = self._windows[window] = {}
            for old in [w for w in self._windows if w < window - 1]:
                del self._windows[old]
        return keys.setdefault(key, _Key())

    async def _drain(self, key: str, state: _Key, limit: int) -> None:
        batch: list[asyncio.Future[bool]] = []
        try:
            while state.waiting:
                batch, state.waiting = state.waiting, []
                granted = await self._granted(key, state, len(batch), limit)
                for index, waiter in enumerate(batch):
                    if not waiter.done():
                        waiter.set_result(index < granted)
        except BaseException:
            for waiter in [*batch, *state.waiting]:
                waiter.cancel()
            state.waiting = []
            raise
        finally:
            state.busy = False

    async def _granted(self, key: str, state: _Key, wanted: int, limit: int) -> int:
        if time.monotonic() >= self._nats_back_at:
            try:
                return await asyncio.wait_for(self._add(key, state, wanted, limit),
                                              self.timeout)
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                self._nats_away(exc)
        granted = max(0, min(wanted, limit - state.used))  # in this process meanwhile
        state.offline += granted
        return granted

    async def _add(self, key: str, state: _Key, wanted: int, limit: int) -> int:
        for _ in range(CAS_ATTEMPTS):
            granted = min(wanted, limit - state.used)
            if granted <= 0:
                return 0
            value = str(state.count + granted).encode()
            try:
                if state.revision:
                    revision = await self.kv.update(key, value, last=state.revision)
                else:
                    revision = await self.kv.create(key, value)
            except KeyWrongLastSequenceError:
                state.count, state.revision = await self._read(key)
                continue
            state.count, state.revision = state.count + granted, revision
            return granted
        return 0  # contended beyond reason: refuse rather than over-admit

    async def _read(self, key: str) -> tuple[int, int]:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return 0, 0
        return int(entry.value or b"0"), entry.revision or 0

    def _nats_away(self, exc: BaseException) -> None:
        self._nats_back_at = time.monotonic() + self.outage_seconds
        log.warning("rate limiter: NATS KV unavailable (%s); counting in this process for "
                    "%.0f s", type(exc).__name__, self.outage_seconds)


class RateLimiter:
    def __init__(self, counters: WindowCounters | None, limits: dict[str, int],
                 window: int) -> None:
        self.counters = counters
        self.limits = limits
        self.window = max(window, 1)

    @classmethod
    def unlimited(cls) -> RateLimiter:
        return cls(None, {}, 60)

    async def check(self, route: str, subject: str) -> Verdict | None:
        """One request of `subject` in class `route`: its verdict, None when unlimited."""
        limit = self.limits.get(route, 0)
        if limit <= 0 or self.counters is None:
            return None
        now = time.time()
        window = int(now // self.window)
        reset = max(1, math.ceil((window + 1) * self.window - now))
        allowed, count = await self.counters.take(f"{route}.{window}.{subject}", limit, window)
        return Verdict(allowed, limit, max(0, limit - count), reset, self.window)

    async def enforce(self, route: str, subject: str) -> Verdict | None:
        """The verdict for one request; RateLimitedError when the budget is spent."""
        verdict = await self.check(route, subject)
        if verdict is not None and not verdict.allowed:
            raise RateLimitedError(verdict)
        return verdict


def limits_from(settings: Settings) -> dict[str, int]:
    return {name: getattr(settings, f"rate_limit_{name}") for name in CLASSES}


async def open_bucket(js: JetStreamContext, settings: Settings) -> KeyValue:
    config = KeyValueConfig(bucket=settings.rate_limit_bucket, history=1,
                            ttl=2.0 * max(settings.rate_limit_window_seconds, 1),
                            storage=StorageType.MEMORY, replicas=settings.stream_replicas)
    try:
        return await js.create_key_value(config)
    except BadRequestError:  # exists with another configuration: use it as it is
        return await js.key_value(settings.rate_limit_bucket)


async def limiter_for(js: JetStreamContext, settings: Settings) -> RateLimiter:
    """The configured limits over the shared bucket (unlimited when every limit is 0)."""
    limits = limits_from(settings)
    if not any(v > 0 for v in limits.values()):
        return RateLimiter.unlimited()
    kv = await open_bucket(js, settings)
    return RateLimiter(WindowCounters(kv), limits, settings.rate_limit_window_seconds)
