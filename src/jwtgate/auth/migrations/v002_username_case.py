"""Schema version 2: one account per username in any letter case, enforced by the database.

``create_user`` already refuses ``Alice`` beside ``alice`` (CWE-178), but two
concurrent creates could both pass that check; a unique index on
``lower(username)`` makes the database the arbiter (usernames are ASCII, so
SQLite's and PostgreSQL's ``lower`` agree).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

__all__ = ["upgrade"]


def upgrade(conn: Connection) -> None:
    """Add the case-insensitive unique index on users."""
    conn.execute(
        text("CREATE UNIQUE INDEX IF NOT EXISTS users_username_lower ON users (lower(username))")
    )
