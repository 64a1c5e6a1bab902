"""What keeps a live status stream (GET /api/messages/stream) within bounds.

- At most `status_stream_max_per_user` streams of one user are open in this gateway
  process at once; one more is 429 RATE_LIMITED until one closes.
- A stream lasts only as long as its token: it ends when the token expires, and when its
  user no longer stands (disabled, removed, or the token revoked), checked through
  kernel/standing.py every `status_stream_heartbeat_seconds`. A check that cannot reach
  the auth service ends the stream too (the client reconnects and signs in again).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field

from fastapi import FastAPI, Request

from gateway.errors import ApiError
from kernel.errors import UnavailableError
from kernel.standing import AuthStanding, CachedStanding, NoStandingError


@dataclass(eq=False)
class Tenure:
    """One open stream's lease: its user, its token and how long that token holds."""

    user_id: int
    token: str
    expires_at: float  # the token's expiry, epoch seconds
    standing: CachedStanding
    every: float  # seconds between standing checks
    next_check: float = field(default_factory=lambda: time.monotonic())
    ended: str = "service_ended"  # why it ended, for the last frame

    def seconds_left(self) -> float:
        return self.expires_at - time.time()

    async def holds(self) -> bool:
        """Whether the stream may go on: the token is unexpired and, when a check is due,
        its user still stands."""
        if self.seconds_left() <= 0:
            self.ended = "token_expired"
            return False
        if time.monotonic() < self.next_check:
            return True
        self.next_check = time.monotonic() + self.every
        try:
            await self.standing.standing(self.token)
        except NoStandingError:
            # The token may have run out while auth was being asked: then that is why.
            self.ended = "token_expired" if self.seconds_left() <= 0 else "unauthorized"
            return False
        except UnavailableError:
            self.ended = "unavailable"
            return False
        return True


class StreamSlots:
    """Open streams per user in this process. Tenures are held weakly as well, so a
    stream whose body never started (its client left first) frees its slot too."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._open: dict[int, weakref.WeakSet[Tenure]] = {}

    def take(self, tenure: Tenure) -> None:
        mine = self._open.setdefault(tenure.user_id, weakref.WeakSet())
        if len(mine) >= self.per_user:
            raise ApiError("RATE_LIMITED", f"At most {self.per_user} open status streams "
                                           "per user; close one first")
        mine.add(tenure)

    def give_back(self, tenure: Tenure) -> None:
        mine = self._open.get(tenure.user_id)
        if mine is not None:
            mine.discard(tenure)
            if not mine:
                del self._open[tenure.user_id]


def _guards(app: FastAPI) -> tuple[StreamSlots, CachedStanding]:
    guards: tuple[StreamSlots, CachedStanding] | None = getattr(app.state, "stream_guards",
                                                                None)
    if guards is None:
        settings = app.state.settings
        standing = AuthStanding(app.state.clients.auth.VerifyToken)
        guards = (StreamSlots(settings.status_stream_max_per_user),
                  CachedStanding(standing, settings.user_standing_cache_seconds))
        app.state.stream_guards = guards
    return guards


def open_tenure(request: Request, user_id: int, token: str, expires_at: float) -> Tenure:
    """A slot for a new stream of `user_id` (429 when all are taken)."""
    slots, standing = _guards(request.app)
    settings = request.app.state.settings
    tenure = Tenure(user_id, token, expires_at, standing,
                    settings.status_stream_heartbeat_seconds)
    tenure.next_check += tenure.every  # the request's own sign-in was the first check
    slots.take(tenure)
    return tenure


def close_tenure(request: Request, tenure: Tenure) -> None:
    _guards(request.app)[0].give_back(tenure)
