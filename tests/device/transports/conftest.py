"""Shared by the transport tests: a recording sink that can be waited on, a send ledger
in a fresh SQLite database (the ledger's own tests run it on PostgreSQL too), and the
Cloud API stand-in (`meta`) the cloud tests send to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kernel.db import create_engine
from services.device.adapters.send_ledger import SendLedger
from services.device.app.transport import TransportEvent
from tests.device.transports.cloud_standin import FakeCloudApi
from tests.device.transports.cloud_support import cloud_api


class Recorder:
    """The transport's sink: keeps every event; tests wait for the ones they expect."""

    def __init__(self) -> None:
        self.events: list[TransportEvent] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: TransportEvent) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def wait_for(self, match: Callable[[TransportEvent], bool],
                       seconds: float = 3.0) -> TransportEvent:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(
                lambda: any(match(e) for e in self.events)), seconds)
            return next(e for e in self.events if match(e))

    async def wait_count(self, count: int, seconds: float = 3.0) -> list[TransportEvent]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(
                lambda: len(self.events) >= count), seconds)
            return list(self.events)

    def of(self, kind: type) -> list[TransportEvent]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def sqlite_ledger(path: Path) -> SendLedger:
    async def engine():  # noqa: ANN202
        return create_engine(f"sqlite+aiosqlite:///{path}")

    return SendLedger(engine)


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SendLedger]:
    ledger = sqlite_ledger(tmp_path / "device.db")
    yield ledger
    await ledger.close()


@pytest.fixture
async def meta() -> AsyncIterator[FakeCloudApi]:
    """The Cloud API stand-in, serving on 127.0.0.1 for one test."""
    async with cloud_api() as api:
        yield api
