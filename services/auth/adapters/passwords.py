"""argon2id password hashing, off the event loop."""

from __future__ import annotations

import asyncio
import ctypes
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet minimum for argon2id: m=19 MiB, t=2, p=1.
TIME_COST, MEMORY_COST_KIB, PARALLELISM = 2, 19456, 1
# glibc's M_MMAP_THRESHOLD, and the value it is fixed at (see `_return_large_blocks`).
M_MMAP_THRESHOLD, LARGE_BLOCK = -3, 1 << 20


class Argon2Passwords:
    def __init__(self) -> None:
        _return_large_blocks()
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


def _return_large_blocks() -> None:
    """Each hash takes a 19 MiB block. After the first, glibc raises its mmap threshold
    above that size, so later blocks come from the heap of the hashing thread and stay
    resident when freed: 19 MiB for each worker thread that ever hashed (an idle auth kept
    19 MiB, a burst of concurrent sign-ins about 95). Fixing the threshold at 1 MiB hands
    every block back when its hash ends, for ~16 ms more CPU per hash to map fresh pages
    (docs/performance.md, "Third wave"). Nothing to do where malloc is not glibc's."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)
