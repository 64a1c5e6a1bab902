"""argon2id password hashing, off the event loop."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet minimum for argon2id: m=19 MiB, t=2, p=1.
TIME_COST, MEMORY_COST_KIB, PARALLELISM = 2, 19456, 1


class Argon2Passwords:
    def __init__(self) -> None:
        self._hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB,
                                      parallelism=PARALLELISM)
        # Verifying against this when a user is unknown keeps login timing alike.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash or self._dummy, password)

    async def verify_nobody(self, password: str) -> bool:
        """Spend the time of a real check, for a user that does not exist."""
        await asyncio.to_thread(self._verify, self._dummy, password)
        return False

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
