"""A stream's tenure says why it ended, even when its token runs out while auth is asked."""

from __future__ import annotations

import asyncio
import time

from gateway.streamguard import Tenure
from kernel.standing import CachedStanding, NoStandingError, Standing


class ExpiringAuth:
    """Answers as the auth service does: a token past its expiry is refused. Each answer
    takes `delay` seconds, as a round trip does."""

    def __init__(self, expires_at: float, delay: float) -> None:
        self.expires_at, self.delay = expires_at, delay

    async def standing(self, token: str) -> Standing:
        await asyncio.sleep(self.delay)
        if time.time() >= self.expires_at:
            raise NoStandingError()
        return Standing(1, "ann", False)


def _tenure(expires_in: float, delay: float) -> Tenure:
    expires_at = time.time() + expires_in
    standing = CachedStanding(ExpiringAuth(expires_at, delay), ttl=0)
    return Tenure(1, "token", expires_at, standing, every=0)


async def test_a_token_that_runs_out_during_the_check_ends_as_expired() -> None:
    tenure = _tenure(expires_in=0.05, delay=0.2)
    assert not await tenure.holds()
    assert tenure.ended == "token_expired"


async def test_a_token_refused_before_its_expiry_ends_as_unauthorized() -> None:
    tenure = _tenure(expires_in=60, delay=0)
    tenure.standing.source.expires_at = 0  # type: ignore[attr-defined]  # auth refuses it now
    assert not await tenure.holds()
    assert tenure.ended == "unauthorized"


async def test_a_standing_token_holds() -> None:
    assert await _tenure(expires_in=60, delay=0).holds()
