"""Who holds each device's session: one replica at a time, by lease.

A lease is taken if free (or already ours), renewed well within its time to live, and
released on a graceful stop. A replica that dies stops renewing; its leases lapse and
another replica takes the devices over. Implementations: NATS KV (production) and an
in-process one for a single replica.
"""

from __future__ import annotations

from typing import Protocol


class Leases(Protocol):
    replica_id: str
    ttl: float

    async def acquire(self, device_id: str) -> bool:
        """Take the device's lease if it is free or already ours."""
        ...

    async def renew(self, device_id: str) -> bool:
        """Extend our lease; False if it lapsed and another replica holds it now."""
        ...

    async def release(self, device_id: str) -> None: ...

    async def holder(self, device_id: str) -> str | None: ...
