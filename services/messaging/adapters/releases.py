"""Reservations given back when their messages could not be queued, kept until they can
be: when billing or this service's store does not answer (a database outage, say), the
release is tried again in the background, with backoff, until both do.

Before each retry the messages are looked up in the event store (`queued`, the journal's
look-up; the history view would miss them while a rebuild refills it): one whose queueing
committed after all (its reply lost with the connection) keeps its reservation, so a
message is never both queued and refunded. Owed releases live in memory: a process
stopped during the outage logs the ids it still owed (the reservation journal gives them
back after its grace)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from kernel.retry import Backoff, report
from services.messaging.app.dependencies import Billing, Quota, QuotaUsage

log = logging.getLogger(__name__)

Release = Callable[[list[str]], Awaitable[None]]
Queued = Callable[[list[str]], Awaitable[set[str]]]


@dataclass(frozen=True)
class Owed:
    what: str
    message_ids: list[str]
    release: Release


class Releases:
    def __init__(self, queued: Queued, backoff: Backoff | None = None) -> None:
        self.queued = queued
        self.backoff = backoff or Backoff(first=0.5, most=5.0)
        self.owed: list[Owed] = []
        self._wake = asyncio.Event()

    async def give_back(self, owed: Owed) -> None:
        """Release now if billing and the store answer; else keep it for `run`."""
        try:
            await owed.release(owed.message_ids)
        except Exception as exc:
            report(log, f"release of {owed.what} {owed.message_ids} (kept, to retry)", exc)
            self.owed.append(owed)
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Settle what is owed, oldest first, until stopped."""
        while not stop.is_set():
            if not self.owed:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                continue
            head = self.owed[0]
            try:
                await self._settle_late(head)
            except Exception as exc:
                report(log, f"release of {head.what} {head.message_ids}", exc)
                await self.backoff.pause(stop)
                continue
            self.owed.pop(0)
            self.backoff.reset()
            log.info("released %s %s after a retry", head.what, head.message_ids)
        if self.owed:
            log.error("stopping with releases still owed: %s",
                      [(o.what, o.message_ids) for o in self.owed])

    async def _settle_late(self, owed: Owed) -> None:
        queued = await self.queued(owed.message_ids)
        unqueued = [m for m in owed.message_ids if m not in queued]
        if unqueued:
            await owed.release(unqueued)


class ReleasingBilling:
    """The `Billing` port, with releases kept until they go through."""

    def __init__(self, billing: Billing, releases: Releases) -> None:
        self.billing = billing
        self.releases = releases

    async def reserve(self, user_id: int, message_ids: Sequence[str]) -> int:
        return await self.billing.reserve(user_id, message_ids)

    async def release(self, user_id: int, message_ids: Sequence[str], reason: str) -> None:
        async def release(ids: list[str]) -> None:
            await self.billing.release(user_id, ids, reason)

        await self.releases.give_back(Owed(f"credits of user {user_id}", list(message_ids),
                                           release))


class ReleasingQuota:
    """The `Quota` port, with releases kept until they go through."""

    def __init__(self, quota: Quota, releases: Releases) -> None:
        self.quota = quota
        self.releases = releases

    async def reserve(self, instance_id: str, user_id: int,
                      message_ids: Sequence[str]) -> QuotaUsage:
        return await self.quota.reserve(instance_id, user_id, message_ids)

    async def release(self, instance_id: str, message_ids: Sequence[str],
                      reason: str) -> None:
        async def release(ids: list[str]) -> None:
            await self.quota.release(instance_id, ids, reason)

        await self.releases.give_back(Owed(f"quota of instance {instance_id}",
                                           list(message_ids), release))
