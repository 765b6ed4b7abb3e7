"""A small versioned schema migration runner.

Each migration is a function of a synchronous SQLAlchemy connection, applied
in order inside ONE transaction that first takes an exclusive lock
(``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so
two auth instances starting at once serialise: the second sees the version
the first committed and does nothing. A failed migration rolls back whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from jwtgate.auth import schema
from jwtgate.auth.migrations import v001_initial, v002_username_case

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "current_version", "migrate"]

Migration = Callable[[Connection], None]

MIGRATIONS: Sequence[Migration] = (v001_initial.upgrade, v002_username_case.upgrade)
"""Migration ``i`` brings the schema from version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version this code expects."""

# Arbitrary constant naming jwtgate's advisory lock (PostgreSQL).
_PG_LOCK_ID = 0x6A777467


def current_version(conn: Connection) -> int:
    """The stored schema version, 0 for an empty database."""
    if not conn.dialect.has_table(conn, schema.schema_version.name):
        return 0
    row = conn.execute(select(schema.schema_version.c.version)).first()
    return int(row[0]) if row else 0


def _run(conn: Connection) -> int:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        from jwtgate.errors import ConfigError

        raise ConfigError(
            f"database schema version {version} is newer than this jwtgate ({SCHEMA_VERSION})"
        )
    for step in MIGRATIONS[version:]:
        step(conn)
    if version == 0:
        conn.execute(schema.schema_version.insert().values(id=1, version=SCHEMA_VERSION))
    elif version != SCHEMA_VERSION:
        conn.execute(schema.schema_version.update().values(version=SCHEMA_VERSION))
    return SCHEMA_VERSION - version


async def migrate(engine: AsyncEngine) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; returns how many steps ran."""
    async with engine.begin() as conn:
        return await conn.run_sync(_run)
