"""Ids that sort by when they were made.

A random id (uuid4) lands on a random page of every index it is a key of, so each insert
dirties a page of its own, and in SQLite's WAL each dirty page is written out whole at
commit; as a table grows those pages also stop fitting in the cache. An id that begins
with the time it was made lands beside the ids made just before it: a batch of inserts
touches the index's last few pages. The rest of the id stays random, so ids are as hard
to guess as before, less the time of day (which the API already shows).
"""

from __future__ import annotations

import os
import time

_RAND_A = 12  # bits of randomness after the version (UUIDv7's rand_a)
_RAND_B = 62  # after the variant (rand_b)


def uuid7() -> str:
    """A version 7 UUID (RFC 9562) as the usual 36-character string: 48 bits of Unix
    time in milliseconds, then 74 random bits."""
    random = int.from_bytes(os.urandom(10), "big")
    value = ((time.time_ns() // 1_000_000) << 80 | 0x7 << 76
             | (random >> _RAND_B & (1 << _RAND_A) - 1) << 64
             | 0b10 << 62 | random & (1 << _RAND_B) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def time_ordered_hex(digits: int) -> str:
    """`digits` hex digits (at least 16): 12 of Unix time in milliseconds, the rest
    random."""
    assert digits >= 16
    rest = digits - 12
    return f"{time.time_ns() // 1_000_000:012x}" + os.urandom((rest + 1) // 2).hex()[:rest]
