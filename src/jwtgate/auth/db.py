"""Database engine construction: SQLite (aiosqlite, WAL) by default, PostgreSQL (asyncpg).

SQLite notes: WAL lets readers proceed while one writer commits;
``synchronous=NORMAL`` is durable across application crashes in WAL mode;
every transaction starts with ``BEGIN IMMEDIATE`` so a writer takes the
write lock up front instead of failing with ``SQLITE_BUSY`` when upgrading a
read lock, and ``busy_timeout`` makes concurrent writers queue instead of
erroring.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from jwtgate.config import JwtGateConfig
from jwtgate.errors import ConfigError

__all__ = [
    "create_engine_for",
    "database_url_for",
    "is_sqlite",
    "reading",
    "readonly",
    "sqlite_path",
]

_BUSY_TIMEOUT_MS = 10_000
_READONLY = "jwtgate_readonly"


def database_url_for(config: JwtGateConfig) -> str:
    """The SQLAlchemy async URL of the configured database."""
    if config.auth.database_url:
        return config.auth.database_url
    return f"sqlite+aiosqlite:///{Path(config.data_dir).resolve() / 'jwtgate.db'}"


def is_sqlite(engine: AsyncEngine) -> bool:
    """True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Hand transaction control to the "begin" hook below (SQLAlchemy's
    # documented recipe for pysqlite/aiosqlite).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    # WAL is persistent in the file and set once by _private_file; switching
    # modes takes an exclusive lock that SQLite does not wait for, so a
    # connection opened while another one writes must not try it again.
    cur.execute("PRAGMA journal_mode")
    row = cur.fetchone()
    if row is None or str(row[0]).lower() != "wal":
        cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Readers use a deferred BEGIN so they never queue behind the write lock.
    readonly = conn.get_execution_options().get(_READONLY, False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def sqlite_path(engine: AsyncEngine) -> Path | None:
    """The database file of a file-backed SQLite engine, else ``None``."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


@contextlib.asynccontextmanager
async def reading(
    reader: AsyncEngine, conn: AsyncConnection | None
) -> AsyncIterator[AsyncConnection]:
    """``conn`` when the caller already has one, else a fresh read-only connection."""
    if conn is not None:
        yield conn
        return
    async with reader.connect() as fresh:
        yield fresh


def readonly(engine: AsyncEngine) -> AsyncEngine:
    """A view of ``engine`` (same pool) for reads.

    On PostgreSQL reads run in autocommit (each statement its own snapshot),
    saving the BEGIN and ROLLBACK round trips; no read here needs more than
    one statement's consistency. On SQLite they use a deferred BEGIN.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT", **{_READONLY: True})
    return engine.execution_options(**{_READONLY: True})


def _private_file(path: Path) -> None:
    """Create the SQLite file owner-only before SQLite does (it holds password hashes).

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's
    mode, so 0600 here covers them too.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    # Switch the file to WAL here, synchronously and before any pooled
    # connection exists, so concurrent first starts never race for it.
    with contextlib.closing(sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000)) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")


def create_engine_for(config: JwtGateConfig) -> AsyncEngine:
    """Create the async engine for ``config`` (the data directory is created for SQLite)."""
    raw = database_url_for(config)
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError("auth.database_url: not a valid database URL") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.drivername != "sqlite+aiosqlite":
            url = url.set(drivername="sqlite+aiosqlite")
        if url.database and url.database != ":memory:":
            _private_file(Path(url.database))
        engine = create_async_engine(url, pool_size=8, max_overflow=8, pool_timeout=60)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        if url.drivername != "postgresql+asyncpg":
            url = url.set(drivername="postgresql+asyncpg")
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    raise ConfigError("auth.database_url: only sqlite and postgresql are supported")
