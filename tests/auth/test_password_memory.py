"""argon2id hashing hands its 19 MiB blocks back: a burst of concurrent sign-ins leaves no
block resident in the worker threads that hashed (glibc would otherwise keep one per
thread once its mmap threshold had risen above the block size)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.auth.adapters.passwords import MEMORY_COST_KIB, Argon2Passwords


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_concurrent_verifications_leave_no_hash_block_resident() -> None:
    passwords = Argon2Passwords()
    stored = await passwords.hash("correct horse battery staple")
    before = rss_mib()
    for _ in range(2):
        checks = [passwords.verify(stored, "correct horse battery staple") for _ in range(4)]
        assert all(await asyncio.gather(*checks))
    grown = rss_mib() - before
    assert grown < MEMORY_COST_KIB / 1024 / 2, f"{grown:.0f} MiB stayed resident"
