"""The login read on PostgreSQL: throttle rows and the user in ONE statement.

Through SQLAlchemy each statement is a round trip and a compile-cache
lookup; the login read needs the three throttle rows of the attempt and the
user row, so one ``UNION ALL`` in autocommit (a single snapshot) returns
both, tagged by the first column. Same data as the portable path in
:meth:`jwtgate.auth.core.AuthCore.login_state`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["login_rows_postgres"]

# Columns 1-6 in ThrottleRow order, 7-12 in users table order (record_from_row).
_LOGIN_ROWS = text(
    """
SELECT 0 AS kind, key, failures, last_failure_at, locked_until, lockouts, trusted_until,
       CAST(NULL AS varchar) AS username, CAST(NULL AS varchar) AS password_hash,
       CAST(NULL AS text) AS roles, CAST(NULL AS boolean) AS disabled,
       CAST(NULL AS double precision) AS created_at, CAST(NULL AS double precision) AS updated_at
FROM login_throttle
WHERE key IN (CAST(:pair AS varchar), CAST(:ip AS varchar), CAST(:acct AS varchar))
UNION ALL
SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL,
       username, password_hash, roles, disabled, created_at, updated_at
FROM users WHERE username = CAST(:username AS varchar)
"""
)


async def login_rows_postgres(
    reader: AsyncEngine, keys: tuple[str, str, str], username: str
) -> tuple[list[tuple[Any, ...]], tuple[Any, ...] | None]:
    """Throttle rows for ``keys`` and the user row (or ``None``), from one snapshot."""
    pair, ip, acct = keys
    params = {"pair": pair, "ip": ip, "acct": acct, "username": username}
    async with reader.connect() as conn:
        rows = (await conn.execute(_LOGIN_ROWS, params)).all()
    throttle = [tuple(r[1:7]) for r in rows if r[0] == 0]
    users = [tuple(r[7:]) for r in rows if r[0] == 1]
    return throttle, users[0] if users else None
