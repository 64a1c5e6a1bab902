"""Properties of history pages (services/messaging/app/handlers.py `list_messages` over
the real history view on SQLite): whatever page and per_page are asked for, per_page is
capped at 100 (10 when not positive), page is at least 1, `pages` is the ceiling of
total / per_page, each page is its slice of the user's messages newest first (a message
without a creation time last), and the pages together hold every message exactly once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.db import create_engine
from services.messaging.adapters.history_view import HistoryView, merge_entries, view_metadata
from services.messaging.app.handlers import (
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    ListMessages,
    MessagePage,
    list_messages,
)
from services.messaging.domain.lifecycle import HistoryEntry, Status
from tests.messaging.conftest import handler_deps

CI = settings(max_examples=60, deadline=None, derandomize=True)
USER, NEIGHBOUR = 41, 42
T0 = datetime(2025, 6, 3, 10, 30, tzinfo=UTC)
COUNT = 237


def _entries() -> list[HistoryEntry]:
    """COUNT messages of USER, several sharing a second, a few not yet created (a device
    event arrived first), and some of a neighbour that must never show."""
    mine = [HistoryEntry(f"msg_{i:04d}", Status.QUEUED, T0, USER, "27821234567", f"m{i}",
                         created_at=None if i % 50 == 7 else T0 + timedelta(seconds=i // 3))
            for i in range(COUNT)]
    theirs = [HistoryEntry(f"msg_n{i:03d}", Status.SENT, T0, NEIGHBOUR, "27821234567", "x",
                           created_at=T0 + timedelta(seconds=i)) for i in range(30)]
    return mine + theirs


def newest_first(entries: list[HistoryEntry]) -> list[str]:
    dated = sorted((e for e in entries if e.created_at), reverse=True,
                   key=lambda e: (e.created_at, e.queue_id))
    undated = sorted((e for e in entries if not e.created_at), reverse=True,
                     key=lambda e: e.queue_id)
    return [e.queue_id for e in dated + undated]


EXPECTED = newest_first([e for e in _entries() if e.user_id == USER])


async def _fill(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(view_metadata.create_all)
        await merge_entries(conn, _entries())
    await engine.dispose()


@pytest.fixture(scope="module")
def view_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("history") / "view.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(_fill(url))
    yield url


def page_of(url: str, page: int, per_page: int) -> MessagePage:
    async def run() -> MessagePage:
        engine = create_engine(url)
        try:
            return await list_messages(ListMessages(USER, page, per_page),
                                       handler_deps(history=HistoryView(engine)))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@CI
@given(page=st.integers(-3, 30), per_page=st.integers(-5, 400))
def test_a_page_is_its_slice_of_the_messages_newest_first(view_url: str, page: int,
                                                         per_page: int) -> None:
    found = page_of(view_url, page, per_page)
    size = min(per_page, MAX_PER_PAGE) if per_page > 0 else DEFAULT_PER_PAGE
    start = (max(page, 1) - 1) * size
    assert (found.page, found.per_page, found.total) == (max(page, 1), size, COUNT)
    assert found.pages == math.ceil(COUNT / size)
    assert (found.pages - 1) * size < COUNT <= found.pages * size
    assert [e.queue_id for e in found.entries] == EXPECTED[start:start + size]
    assert all(e.user_id == USER for e in found.entries)
    dated = [e.created_at for e in found.entries if e.created_at]
    assert dated == sorted(dated, reverse=True)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(per_page=st.integers(1, 120))
def test_the_pages_together_hold_every_message_once(view_url: str, per_page: int) -> None:
    first = page_of(view_url, 1, per_page)
    seen = [e.queue_id for p in range(1, first.pages + 1)
            for e in page_of(view_url, p, per_page).entries]
    assert seen == EXPECTED
    assert page_of(view_url, first.pages + 1, per_page).entries == []
