"""Engines for a service's own store: SQLite (embedded) or PostgreSQL (a schema per service)."""

from __future__ import annotations

import errno
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import greenlet_spawn

from kernel.config import Settings


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def insert_for(dialect: str) -> Callable[..., Any]:
    """The dialect's INSERT (the one with ON CONFLICT clauses) for `conn.dialect.name`,
    its module loaded on first use: a SQLite store never loads PostgreSQL's."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert


def create_engine(url: str, schema: str = "", connect_timeout: float = 5.0,
                  command_timeout: float = 30.0, pool_timeout: float = 5.0) -> AsyncEngine:
    """An engine for one service's store. On PostgreSQL, `schema` keeps services apart.

    A PostgreSQL server that goes away makes calls fail within the timeouts (connect,
    statement, waiting for a pooled connection) rather than hang; pooled connections are
    checked before use, so the first calls after it comes back do not meet dead ones."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # a PostgreSQL store never loads the SQLite driver
        from kernel.sqlite_driver import BUSY_TIMEOUT_MS, OneTripDBAPI
        # Every transaction here is ended explicitly (commit, or rollback when its
        # connection closes), so the pool's own rollback on check-in is a wasted round
        # trip through aiosqlite's thread. sqlite3 sets the busy timeout from `timeout`.
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000,
                                  "check_same_thread": False}
        kwargs["pool_reset_on_return"] = None
        if url.startswith("sqlite+aiosqlite:"):
            kwargs["module"] = OneTripDBAPI()
    else:
        connect: dict[str, Any] = {"timeout": connect_timeout,
                                   "command_timeout": command_timeout}
        if schema:
            connect["server_settings"] = {"search_path": schema}
            kwargs.update(pool_size=10, max_overflow=10)
        kwargs.update(connect_args=connect, pool_pre_ping=True, pool_timeout=pool_timeout)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so that BEGIN IMMEDIATE below
    # takes the write lock up front: no deadlocks between readers upgrading to writers.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    readonly = conn.get_execution_options().get("readonly", False)
    begin = "BEGIN" if readonly else "BEGIN IMMEDIATE"
    begin_later = getattr(conn.connection.dbapi_connection, "begin_with_next_statement", None)
    if begin_later is not None:
        begin_later(begin)  # kernel.sqlite_driver: sent with the first statement
    else:
        conn.exec_driver_sql(begin)


@asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that commits when the block ends and rolls back when it raises:
    `engine.begin()`, with the connection closed at once after the commit (`_closed`)."""
    async with _connected(engine) as conn, conn.begin():
        yield conn


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction: on SQLite it does not take the write lock. It ends by a
    rollback, then its connection is closed at once (`_closed`)."""
    async with _connected(engine) as conn:
        await conn.execution_options(readonly=True)
        yield conn
        await conn.rollback()


@asynccontextmanager
async def _connected(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for a block that ends its transaction: closed at once when the block
    ends (`_closed`), through SQLAlchemy's own exit when it raises."""
    conn = await engine.connect()
    try:
        yield conn
    except BaseException as exc:
        await conn.__aexit__(type(exc), exc, exc.__traceback__)
        raise
    await _closed(conn)


async def _closed(conn: AsyncConnection) -> None:
    """Close a connection whose transaction has ended, in the caller's task.

    SQLAlchemy's own exit from `async with` closes a connection in a task of its own
    behind a shield, so that a cancellation cannot cut short a close that waits for the
    database (a rollback on the way back to the pool). That costs a task and three
    turns of the event loop for every transaction. Here the transaction has already
    ended (committed or rolled back, in the caller's task, as `engine.begin()` ends it
    too), so the close has nothing to wait for on either store: SQLite's pool resets
    nothing on return, and PostgreSQL's reset has no transaction to roll back. On the
    way out of a block that raised, the connection still goes through SQLAlchemy's own
    shielded exit."""
    sync = conn.sync_connection
    assert sync is not None  # set once the connection has started
    await greenlet_spawn(sync.close)


async def ensure_schema(engine: AsyncEngine, schema: str) -> None:
    if is_postgres(engine) and schema:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


async def engine_for(service: str, settings: Settings) -> AsyncEngine:
    url = settings.database_url_for(service)
    engine = create_engine(url, schema=service,
                           connect_timeout=settings.db_connect_timeout_seconds,
                           command_timeout=settings.db_command_timeout_seconds,
                           pool_timeout=settings.db_pool_timeout_seconds)
    await ensure_schema(engine, service)
    return engine


# The server is gone, going or not yet back; or the connection to it was cut.
_OUTAGE_TYPES = (sa_exc.TimeoutError, TimeoutError, ConnectionError, socket.gaierror)
_ASYNCPG_OUTAGES = ("PostgresConnectionError", "CannotConnectNowError", "AdminShutdownError",
                    "CrashShutdownError", "TooManyConnectionsError", "InterfaceError")
_UNREACHABLE = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EHOSTUNREACH,
                errno.ENETUNREACH, errno.ETIMEDOUT, errno.EPIPE}
_SQLITE_OUTAGE = ("database is locked", "unable to open", "disk i/o error", "readonly database")


def is_outage(error: BaseException) -> bool:
    """Whether `error` means the store cannot be reached or used right now (retry later),
    as opposed to a request or a bug the store refused."""
    return any(_says_outage(cause) for cause in _causes(error))


def _says_outage(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, _OUTAGE_TYPES + _asyncpg_outages()):
        return True
    if isinstance(error, sqlite3.OperationalError):
        return any(words in str(error).lower() for words in _SQLITE_OUTAGE)
    return isinstance(error, OSError) and error.errno in _UNREACHABLE


def _asyncpg_outages() -> tuple[type[BaseException], ...]:
    """asyncpg's outage errors, once a PostgreSQL engine has loaded asyncpg (no asyncpg
    error can exist before; a SQLite store never loads it)."""
    asyncpg = sys.modules.get("asyncpg")
    return tuple(getattr(asyncpg, name) for name in _ASYNCPG_OUTAGES) if asyncpg else ()


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps (`orig` of SQLAlchemy's, then causes and contexts)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "orig", None)
        current = (wrapped if isinstance(wrapped, BaseException)
                   else current.__cause__ or current.__context__)
