"""A user token's standing: is its user still enabled, and an admin *now*? The one place
every edge asks it (each service's gRPC edge, kernel/guard.py; anything that holds a
user's token open, such as a stream).

`AuthStanding` asks the auth service (VerifyToken, with this process's service token);
auth answers from its own directory. `CachedStanding` keeps each answer, refusals too,
for `user_standing_cache_seconds` (5 s by default): a disabled user's token stops working
within that long on every service, at one small RPC per token per window. Admin calls ask
afresh each time (`fresh`): admin rights are always the user's current ones.

An edge that must answer as of *now* (the gateway asks auth about every REST request's
token or key pair) shares calls with kernel/gathering.py's `FreshAsks`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import grpc

from kernel.errors import UnauthorizedError, UnavailableError
from switchboard.auth.v1 import auth_pb2


@dataclass(frozen=True)
class Standing:
    user_id: int
    username: str
    is_admin: bool


class NoStandingError(UnauthorizedError):
    def __init__(self) -> None:
        super().__init__("Invalid or expired token, or the user is disabled")


class StandingSource(Protocol):
    async def standing(self, token: str) -> Standing:
        """The token's user as they stand now; NoStandingError when the token is bad or
        the user is gone or disabled."""
        ...


Verify = Callable[..., Awaitable[auth_pb2.Principal]]
ASK_TIMEOUT = 3.0


class AuthStanding:
    """Asks the auth service (`verify` is an AuthService stub's VerifyToken)."""

    def __init__(self, verify: Verify) -> None:
        self.verify = verify

    async def standing(self, token: str) -> Standing:
        try:
            found = await self.verify(auth_pb2.VerifyTokenRequest(token=token),
                                      timeout=ASK_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise NoStandingError() from exc
            raise UnavailableError("Cannot check the caller's standing; retry shortly") \
                from exc
        return Standing(found.user_id, found.username, found.is_admin)


class CachedStanding:
    """Answers of `source` kept `ttl` seconds per token (at most `size` tokens)."""

    def __init__(self, source: StandingSource, ttl: float, size: int = 10_000) -> None:
        self.source, self.ttl, self.size = source, ttl, size
        self._kept: OrderedDict[str, tuple[float, Standing | None]] = OrderedDict()

    async def standing(self, token: str, fresh: bool = False) -> Standing:
        """The kept answer, or a new one when there is none, it is old, or `fresh`."""
        kept = self._kept.get(token)
        if fresh or kept is None or kept[0] <= time.monotonic():
            kept = (time.monotonic() + self.ttl, await self._ask(token))
            self._kept[token] = kept
            self._kept.move_to_end(token)
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)
        if kept[1] is None:
            raise NoStandingError()
        return kept[1]

    async def _ask(self, token: str) -> Standing | None:
        try:
            return await self.source.standing(token)
        except NoStandingError:
            return None
