"""Group commit: saves from concurrent callers written in one transaction.

A write transaction costs about the same whatever it holds (the write lock, the commit,
on SQLite a thread hop per statement), so under load the store spends its time on
transactions, not on events. The first batch waits `gather_turns` loop turns for the saves
a burst has under way (kernel/gathering.py `let_callers_join`); saves that arrive while one batch
is being written wait and go together in the next; each caller's save is committed when
its call returns, exactly as with a transaction of its own. Two saves to the same stream
never share a batch (the second waits for the next). If a batch conflicts (another writer
moved a stream on, or a caller's own rows collide), its saves are written again one by
one, so only the conflicting one fails; any other failure fails the whole batch.

A save's own rows (`extra`) go in the same transaction. An extra made as `Joined(write,
items)` is written together with the other saves' of the batch that have the same
`write`: one call with all their items (one statement for the batch, not one a save).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kernel import context
from kernel.eventstore import ConcurrencyError, EventStore, StreamWrite
from kernel.gathering import GATHER_TURNS, let_callers_join, settle

Extra = Callable[[AsyncConnection], Awaitable[None]]


@dataclass(frozen=True)
class Joined:
    """An extra that writes `items` with `write(conn, items)`; in a batch, one call with
    the items of every save whose extra has the same `write`."""

    write: Callable[[AsyncConnection, list[Any]], Awaitable[None]]
    items: list[Any]

    async def __call__(self, conn: AsyncConnection) -> None:
        await self.write(conn, self.items)


@dataclass
class _Save:
    writes: list[StreamWrite]
    extra: Extra | None
    done: asyncio.Future[None]

    @property
    def streams(self) -> set[str]:
        return {w.stream_id for w in self.writes}

    def settle(self, failure: BaseException | None = None) -> None:
        settle(self.done, failure)


class GroupCommit:
    def __init__(self, store: EventStore, max_batch: int = 256,
                 gather_turns: int = GATHER_TURNS) -> None:
        self.store = store
        self.max_batch = max_batch
        self.gather_turns = gather_turns
        self.transactions = 0  # committed, for tests and operators
        self._waiting: list[_Save] = []
        self._writer: asyncio.Task[None] | None = None

    async def save(self, writes: Sequence[StreamWrite], extra: Extra | None = None) -> None:
        """Append `writes` (and run `extra` on the same connection) in a shared
        transaction; ConcurrencyError if a stream moved on, as with a transaction alone.
        Each event keeps the caller's correlation metadata."""
        meta = context.current().as_metadata()
        stamped = [dataclasses.replace(w, meta=meta) for w in writes if w.events]
        if not stamped and extra is None:
            return
        save = _Save(stamped, extra, asyncio.get_running_loop().create_future())
        self._waiting.append(save)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        # A caller that goes away does not take the save with it: it is in the batch.
        await asyncio.shield(save.done)

    async def _write_all(self) -> None:
        try:
            await let_callers_join(self.gather_turns)
            while self._waiting:
                await self._write(self._next_batch())
        except BaseException as exc:  # cancelled with saves still waiting: fail them
            for save in self._waiting:
                save.settle(exc)
            self._waiting = []
            raise

    def _next_batch(self) -> list[_Save]:
        batch: list[_Save] = []
        later: list[_Save] = []
        streams: set[str] = set()
        for save in self._waiting:
            if len(batch) < self.max_batch and not save.streams & streams:
                batch.append(save)
                streams |= save.streams
            else:
                later.append(save)
        self._waiting = later
        return batch

    async def _write(self, batch: list[_Save]) -> None:
        try:
            await self._commit(batch)
        except ConcurrencyError as conflict:
            if len(batch) == 1:
                batch[0].settle(conflict)
                return
            for save in batch:  # find the one that conflicts; the others go in alone
                await self._write([save])
            return
        except asyncio.CancelledError as exc:
            for save in batch:
                save.settle(exc)
            raise
        except Exception as exc:
            for save in batch:
                save.settle(exc)
            return
        for save in batch:
            save.settle()

    async def _commit(self, batch: list[_Save]) -> None:
        async with self.store.transaction() as conn:
            await self.store.append_many([w for save in batch for w in save.writes], conn)
            joined: dict[Callable[..., Awaitable[None]], list[Any]] = {}
            for save in batch:
                if isinstance(save.extra, Joined):
                    joined.setdefault(save.extra.write, []).extend(save.extra.items)
                elif save.extra is not None:
                    await save.extra(conn)
            for write, items in joined.items():
                await write(conn, items)
        self.transactions += 1
