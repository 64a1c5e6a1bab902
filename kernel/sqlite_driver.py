"""SQLite without a trip to aiosqlite's thread for each step of each statement.

SQLAlchemy's aiosqlite adapter makes a cursor, executes, fetches and closes the cursor
as four separate trips to the connection's thread, and a transaction's BEGIN as three
more: each trip is a queue hand-off, a thread switch and a wake-up of the event loop,
and under load those hand-offs cost more CPU than SQLite's own work, and each costs its
caller two turns of a busy event loop. Here everything runs in the event loop's thread
at once, except a wait for another connection's write lock:

- a write transaction's BEGIN IMMEDIATE is first tried here without waiting (a busy
  timeout of 0 for that one statement). When the lock is free, as it is whenever no
  other writer holds it, the transaction runs here from BEGIN to COMMIT. When another
  connection holds it, the BEGIN and the first statement go to the connection's thread
  in one trip (cursor, execute, rows and close in one function), and the caller waits
  there, not here: the event loop goes on, and with it the writer of this process that
  holds the lock. A first statement of many rows is the exception: only the BEGIN
  waits in the thread, and the rows are written here (see `_send`);
- reads run here (in WAL mode a reader never waits for a writer), with their BEGIN and
  their end;
- a commit runs here too. A commit may also copy the write-ahead log back into the
  database (a checkpoint, with its fsyncs): those are taken off commits
  (`wal_autocheckpoint=0`) and done by `Checkpoints`, in a thread of their own, every
  `CHECKPOINT_EVERY` commits of a store;
- a transaction that ran no statement began nothing, so it ends without a statement.

The connection is one `sqlite3` connection, used by one task at a time, in either
thread (`check_same_thread` off; Python's sqlite3 is built serialized).
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
from typing import Any
from urllib.parse import quote

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

IMMEDIATE = "BEGIN IMMEDIATE"  # takes the write lock: may wait for another writer
BUSY_TIMEOUT_MS = 30_000  # how long a statement waits for a lock (kernel/db.py connects so)
CHECKPOINT_EVERY = 64  # commits of one store between two checkpoints of its log
log = logging.getLogger(__name__)
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


def _lock_taken_here(conn: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE without waiting: True when this connection now holds the write
    lock, False when another connection holds it."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute(IMMEDIATE)
        return True
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


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
            if begin == IMMEDIATE and _lock_taken_here(conn):
                begin, adapt.writing = None, True
            if adapt.may_run_here(begin, operation):
                # Awaited (it completes at once) because SQLAlchemy's async execute
                # insists that every statement awaits something.
                outcome = await_(_at_once(conn, begin, operation, parameters, many))
            elif many and begin == IMMEDIATE:
                # Many rows, and the lock is another connection's: only the wait for it
                # is in the connection's thread, and the rows are written here. In that
                # thread sqlite3 lets go of the GIL for each row's step and must take it
                # back after, each time waiting for a busy event loop's thread to let go
                # of it (up to the switch interval): the history's first statement of
                # 1,000 rows held the write lock that long while every other writer of
                # the store waited.
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


class Checkpoints:
    """Checkpoints of the stores this process writes, in a thread of its own.

    A store's connections here never checkpoint on commit (`wal_autocheckpoint=0`): a
    commit in the event loop's thread must not stop it for a checkpoint's fsyncs. Every
    `CHECKPOINT_EVERY` commits of a store ask for one instead, and this thread runs it
    (PASSIVE: it copies what no reader still needs and never waits for a lock, readers
    and writers go on meanwhile) on a connection of its own, opened for it. The thread
    starts with the first request and sleeps while there is none."""

    def __init__(self) -> None:
        self._commits: collections.Counter[str] = collections.Counter()
        self._due: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = 0  # checkpoints run, for tests

    def committed(self, database: str) -> None:
        """Count a commit of the store at `database` (a path); every CHECKPOINT_EVERY
        commits ask for a checkpoint."""
        self._commits[database] += 1
        if self._commits[database] % CHECKPOINT_EVERY == 0:
            self.ask(database)

    def ask(self, database: str) -> None:
        with self._lock:
            self._due.add(database)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints",
                                                daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                self._wake.clear()
                due, self._due = self._due, set()
            for database in due:
                self._checkpoint(database)

    def _checkpoint(self, database: str) -> None:
        try:  # mode=rw: a store removed meanwhile is not created again
            conn = sqlite3.connect(f"file:{quote(database)}?mode=rw", uri=True,
                                   timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                conn.close()
        except sqlite3.Error as error:  # the next request tries again
            log.warning("checkpoint of %s: %s", database, error)
            return
        self.done += 1


CHECKPOINTS = Checkpoints()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's connection as SQLAlchemy adapts it, with `OneTripCursor`s, a BEGIN
    that waits for the transaction's first statement (`begin_with_next_statement`), and
    the statements that cannot wait for a lock run in the caller's thread."""

    __slots__ = ("pending_begin", "writing", "database")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any, database: str) -> None:
        super().__init__(dbapi, connection)
        self.pending_begin: str | None = None
        self.writing = False  # in a transaction that holds the write lock
        self.database = database  # its file's path; "" when it has none (in memory)

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
        self._end("commit")

    def rollback(self) -> None:
        self._end("rollback")

    def _end(self, name: str) -> None:
        """A transaction that ran no statement began nothing; any other ends here (a
        commit writes no checkpoint: `Checkpoints`)."""
        if self.pending_begin is not None:
            self.pending_begin = None
            return
        writing, self.writing = self.writing, False
        try:
            getattr(self._connection._conn, name)()
        except Exception as error:
            self._handle_exception(error)
        if writing and name == "commit" and self.database:
            CHECKPOINTS.committed(self.database)


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module handed to SQLAlchemy (`create_engine(..., module=...)`)."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        raw = adapted._connection._conn
        raw.execute("PRAGMA wal_autocheckpoint=0")  # Checkpoints does them
        database = next((file for _, name, file in raw.execute("PRAGMA database_list")
                         if name == "main"), "")
        return OneTripConnection(self, adapted._connection, database)
