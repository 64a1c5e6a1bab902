"""SQLite without a trip to aiosqlite's thread for each step of each statement.

SQLAlchemy's aiosqlite adapter makes a cursor, executes, fetches and closes the cursor
as four separate trips to the connection's thread, and a transaction's BEGIN as three
more: each trip is a queue hand-off, a thread switch and a wake-up of the event loop,
and under load those hand-offs cost more CPU than SQLite's own work. Here:

- what may wait for another connection's lock goes to the connection's thread in one
  trip: a write transaction's BEGIN IMMEDIATE with its first statement (cursor, execute,
  rows and close in one function), unless that statement writes many rows (then the
  BEGIN goes alone, and the rows are written in the event loop's thread, see `_send`),
  and its commit (which may also write a checkpoint);
- what cannot wait runs in the event loop's thread at once: the rest of a transaction
  that holds the write lock, and reads (in WAL mode a reader never waits for a writer),
  with their BEGIN and their end;
- a transaction that ran no statement began nothing, so it ends without a trip.

So a write transaction costs two trips however many statements it runs, and a read
none. A writer waiting for the lock waits in its connection's thread, as before: the
event loop goes on, and with it the writer of this process that holds the lock. The
connection is one `sqlite3` connection, used by one task at a time, in either thread
(`check_same_thread` off; Python's sqlite3 is built serialized).
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

IMMEDIATE = "BEGIN IMMEDIATE"  # takes the write lock: may wait for another writer
_Outcome = tuple[Any, list[Any], int, Any]  # description, rows, rowcount, lastrowid


def _run(conn: sqlite3.Connection, begin: str | None, operation: str, parameters: Any,
         many: bool) -> _Outcome:
    """In the connection's thread: the pending BEGIN, then the statement and its rows."""
    if begin is not None:
        conn.execute(begin)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


async def _at_once(conn: sqlite3.Connection, begin: str | None, operation: str,
                   parameters: Any, many: bool) -> _Outcome:
    return _run(conn, begin, operation, parameters, many)


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement, rows and close are one trip to the connection's thread."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: Any = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        """Nothing to close: the cursor in the thread was closed with its statement."""

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._send(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._send(operation, seq_of_parameters, many=True)

    def _send(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt = self._adapt_connection
        assert isinstance(adapt, OneTripConnection)
        conn = self._connection._conn
        begin, adapt.pending_begin = adapt.pending_begin, None
        try:
            if adapt.may_run_here(begin, operation):
                # Awaited (it completes at once) because SQLAlchemy's async execute
                # insists that every statement awaits something.
                outcome = await_(_at_once(conn, begin, operation, parameters, many))
            elif many and begin == IMMEDIATE:
                # Many rows: only the lock is taken in the connection's thread, and the
                # rows are written here. In that thread sqlite3 lets go of the GIL for
                # each row's step and must take it back after, each time waiting for a
                # busy event loop's thread to let go of it (up to the switch interval):
                # the history's first statement of 1,000 rows held the write lock that
                # long while every other writer of the store waited.
                await_(self._connection._execute(conn.execute, begin))
                adapt.writing = True
                outcome = await_(_at_once(conn, None, operation, parameters, many))
            else:
                outcome = await_(self._connection._execute(
                    _run, conn, begin, operation, parameters, many))
                adapt.writing = conn.in_transaction and (
                    begin == IMMEDIATE or not _reads(operation))
        except Exception as error:
            if begin is not None and not conn.in_transaction:
                adapt.pending_begin = begin  # nothing began: no rollback to send
            adapt._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


def _reads(operation: str) -> bool:
    return operation.lstrip()[:6].upper() == "SELECT"


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's connection as SQLAlchemy adapts it, with `OneTripCursor`s, a BEGIN
    that waits for the transaction's first statement (`begin_with_next_statement`), and
    the statements that cannot wait for a lock run in the caller's thread."""

    __slots__ = ("pending_begin", "writing")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.pending_begin: str | None = None
        self.writing = False  # in a transaction that holds the write lock

    def begin_with_next_statement(self, begin: str) -> None:
        self.pending_begin = begin

    def may_run_here(self, begin: str | None, operation: str) -> bool:
        """Whether a statement cannot wait for another connection's lock, and so may
        run in the event loop's thread: any statement of a transaction that holds the
        write lock already, and a read (WAL: readers never wait for writers). What may
        wait (taking the write lock) goes to the connection's thread, where a wait for
        a writer of this same process blocks no one."""
        if self.writing:
            return True
        return begin != IMMEDIATE and _reads(operation)

    def commit(self) -> None:
        self._end(super().commit, "commit")

    def rollback(self) -> None:
        self._end(super().rollback, "rollback")

    def _end(self, in_thread: Callable[[], None], name: str) -> None:
        """A transaction that ran no statement began nothing; one that read only ends
        here; one that wrote commits in the connection's thread (a commit may write a
        checkpoint to disk)."""
        if self.pending_begin is not None:
            self.pending_begin = None
            return
        writing, self.writing = self.writing, False
        if writing:
            in_thread()
            return
        try:
            getattr(self._connection._conn, name)()
        except Exception as error:
            self._handle_exception(error)


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module handed to SQLAlchemy (`create_engine(..., module=...)`)."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)
