"""The auth server's SQLite hot paths: one short transaction per login or rotation.

Through SQLAlchemy and aiosqlite every statement, fetch and commit is its own
round trip to a worker thread, which costs more than SQLite itself. This
rotator runs the whole compare-and-set transaction (``BEGIN IMMEDIATE``, the
single ``UPDATE ... WHERE state = 'active' RETURNING``, the family and user
read, the successor ``INSERT``, ``COMMIT``) as one function on a dedicated
thread with its own ``sqlite3`` connection, with the same SQL semantics as
the portable path in :mod:`jwtgate.auth.refresh`, so the atomicity argument
is unchanged: only one caller can move a row out of ``active``. Statements
are cached by ``sqlite3`` (prepared once per connection).

The transaction is first tried inline on the event-loop thread with
``busy_timeout = 0``: it then never waits, it either takes the write lock at
once and finishes in well under a millisecond (less than a thread hop costs),
or fails with ``SQLITE_BUSY`` before touching anything, and is retried on the
dedicated thread whose connection waits up to ``busy_timeout_s`` (another
process, e.g. the CLI or a second worker, holds the lock). With
``synchronous=NORMAL`` a WAL commit does not fsync; only SQLite's automatic
checkpoint (every ~1,000 WAL pages) does, which briefly delays the loop every
few thousand rotations.

Login uses the same connections for its two transactions: the read of the
throttle rows and the user (one deferred ``BEGIN``, two ``SELECT`` statements) and the
insert of a new family with its first token; each is likewise one call
instead of five or six thread round trips through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from jwtgate.auth.refresh_model import Family, Rotation

__all__ = ["LoginRows", "SqliteRotator"]

_T = TypeVar("_T")

_CONSUME = (
    "UPDATE refresh_tokens SET state = 'consumed', consumed_at = ? "
    "WHERE token_hash = ? AND state = 'active' AND expires_at > ? AND EXISTS "
    "(SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id "
    "AND f.revoked_at IS NULL AND f.expires_at > ?) "
    "RETURNING family_id"
)
_FAMILY_AND_USER = (
    "SELECT f.id, f.username, f.client_id, f.scope, f.delivery, f.created_at, f.expires_at, "
    "f.revoked_at, f.reason, u.roles, u.disabled FROM refresh_families f "
    "LEFT JOIN users u ON u.username = f.username WHERE f.id = ?"
)
_INSERT = (
    "INSERT INTO refresh_tokens (token_hash, family_id, parent_hash, state, created_at, "
    "consumed_at, expires_at) VALUES (?, ?, ?, 'active', ?, NULL, ?)"
)
_FIND = (
    "SELECT t.state, t.consumed_at, f.id, f.username, f.client_id, f.scope, f.delivery, "
    "f.created_at, f.expires_at, f.revoked_at, f.reason FROM refresh_tokens t "
    "JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = ?"
)
# Column order of throttle.ThrottleRow and of users.record_from_row.
_THROTTLE_ROWS = (
    "SELECT key, failures, last_failure_at, locked_until, lockouts, trusted_until "
    "FROM login_throttle WHERE key IN (?, ?, ?)"
)
_USER = (
    "SELECT username, password_hash, roles, disabled, created_at, updated_at "
    "FROM users WHERE username = ?"
)
_NEW_FAMILY = (
    "INSERT INTO refresh_families (id, username, client_id, scope, delivery, created_at, "
    "expires_at, revoked_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)"
)
_INSERT_FIRST = (
    "INSERT INTO refresh_tokens (token_hash, family_id, parent_hash, state, created_at, "
    "consumed_at, expires_at) VALUES (?, ?, NULL, 'active', ?, NULL, ?)"
)

LoginRows = tuple[list[tuple[Any, ...]], tuple[Any, ...] | None]
"""Throttle rows for the given keys and the user row (or ``None``), one snapshot."""


def _family(row: tuple[object, ...]) -> Family:
    return Family(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        int(row[4]),  # type: ignore[call-overload]
        float(row[5]),  # type: ignore[arg-type]
        float(row[6]),  # type: ignore[arg-type]
        None if row[7] is None else float(row[7]),  # type: ignore[arg-type]
        None if row[8] is None else str(row[8]),
    )


class SqliteRotator:
    """Runs rotations on one dedicated thread with its own connection."""

    def __init__(self, path: Path, busy_timeout_s: float = 10.0) -> None:
        self._path = path
        self._timeout = busy_timeout_s
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="jwtgate-refresh")
        self._conn: sqlite3.Connection | None = None  # used on the dedicated thread only
        self._inline: sqlite3.Connection | None = None  # used on the event-loop thread only
        self._closed = False
        self.inline_busy = 0

    def _connect(self, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=64,
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _threaded(self, fn: Callable[..., _T], args: tuple[Any, ...]) -> _T:
        if self._conn is None:
            self._conn = self._connect(self._timeout)
        return fn(self._conn, *args)

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(conn, *args)`` inline if SQLite answers at once, else on the waiting thread.

        ``fn`` runs one whole transaction and rolls it back on any error, so
        an inline attempt that meets ``SQLITE_BUSY`` has changed nothing.
        """
        if self._inline is None:
            self._inline = self._connect(0.0)
        try:
            return fn(self._inline, *args)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            self.inline_busy += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._threaded, fn, args)

    @staticmethod
    def _rotate(
        conn: sqlite3.Connection, digest: str, successor: str, now: float, idle: float
    ) -> Rotation:
        conn.execute("BEGIN IMMEDIATE")
        try:
            won = conn.execute(_CONSUME, (now, digest, now, now)).fetchone()
            if won is not None:
                row = conn.execute(_FAMILY_AND_USER, (won[0],)).fetchone()
                family = _family(row)
                expires = min(now + idle, family.expires_at)
                conn.execute(_INSERT, (successor, family.id, digest, now, expires))
                conn.execute("COMMIT")
                roles = None if row[9] is None else str(row[9])
                return Rotation(True, family, "active", None, expires, roles, bool(row[10]))
            found = conn.execute(_FIND, (digest,)).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if found is None:
            return Rotation(False, None, None, None, 0.0, None, False)
        return Rotation(False, _family(found[2:]), str(found[0]), found[1], 0.0, None, False)

    async def rotate(self, digest: str, successor: str, now: float, idle: float) -> Rotation:
        """The compare-and-set transaction (see the module docstring)."""
        return await self._run(self._rotate, digest, successor, now, idle)

    @staticmethod
    def _login_rows(conn: sqlite3.Connection, keys: tuple[str, str, str], user: str) -> LoginRows:
        conn.execute("BEGIN")
        try:
            rows = conn.execute(_THROTTLE_ROWS, keys).fetchall()
            found = conn.execute(_USER, (user,)).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return rows, found

    async def login_rows(self, keys: tuple[str, str, str], username: str) -> LoginRows:
        """The throttle rows of ``keys`` and the user row, read in one transaction."""
        return await self._run(self._login_rows, keys, username)

    @staticmethod
    def _create_family(
        conn: sqlite3.Connection, family: Family, token_hash: str, expires: float
    ) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                _NEW_FAMILY,
                (
                    family.id,
                    family.username,
                    family.client_id,
                    family.scope,
                    family.delivery,
                    family.created_at,
                    family.expires_at,
                ),
            )
            conn.execute(_INSERT_FIRST, (token_hash, family.id, family.created_at, expires))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def create_family(self, family: Family, token_hash: str, expires: float) -> None:
        """Insert a family and its first token in one transaction."""
        await self._run(self._create_family, family, token_hash, expires)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        """Close the connection (on its own thread) and stop the thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._close)
        self._pool.shutdown(wait=True)
