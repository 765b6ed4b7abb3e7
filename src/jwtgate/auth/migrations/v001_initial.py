"""Schema version 1: users, clients, refresh families and tokens, revocations, throttle."""

from __future__ import annotations

from sqlalchemy import Connection

from jwtgate.auth import schema

__all__ = ["upgrade"]


def upgrade(conn: Connection) -> None:
    """Create every table of version 1 (``checkfirst`` keeps a half-made schema repairable)."""
    tables = [
        schema.schema_version,
        schema.users,
        schema.clients,
        schema.refresh_families,
        schema.refresh_tokens,
        schema.revocations,
        schema.login_throttle,
    ]
    schema.metadata.create_all(conn, tables=tables, checkfirst=True)
