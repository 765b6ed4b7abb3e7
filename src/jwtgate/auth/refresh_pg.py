"""The refresh-grant hot path on PostgreSQL: the whole rotation in ONE statement.

Data-modifying CTEs (PostgreSQL manual, "WITH Queries", 7.8.4) let the
compare-and-set ``UPDATE ... WHERE state = 'active' RETURNING``, the family
and user read and the successor ``INSERT`` run as one atomic statement in
autocommit mode: one round trip and one commit instead of six round trips.
Concurrency is unchanged: the UPDATE takes the row lock, and a concurrent
statement re-checks ``state = 'active'`` after the winner commits (READ
COMMITTED re-evaluation), finds nothing, and so inserts nothing.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from jwtgate.auth.refresh_model import Family, Rotation, _family

__all__ = ["create_family_postgres", "rotate_postgres"]

_ROTATE = text(
    """
WITH consumed AS (
    UPDATE refresh_tokens SET state = 'consumed', consumed_at = CAST(:now AS double precision)
    WHERE token_hash = CAST(:digest AS varchar) AND state = 'active'
      AND expires_at > CAST(:now AS double precision)
      AND EXISTS (
          SELECT 1 FROM refresh_families f
          WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL
            AND f.expires_at > CAST(:now AS double precision))
    RETURNING family_id
), fam AS (
    SELECT f.id, f.username, f.client_id, f.scope, f.delivery, f.created_at, f.expires_at,
           f.revoked_at, f.reason, u.roles AS user_roles, u.disabled AS user_disabled
    FROM refresh_families f
    JOIN consumed c ON c.family_id = f.id
    LEFT JOIN users u ON u.username = f.username
), ins AS (
    INSERT INTO refresh_tokens
        (token_hash, family_id, parent_hash, state, created_at, consumed_at, expires_at)
    SELECT CAST(:successor AS varchar), fam.id, CAST(:digest AS varchar), 'active',
           CAST(:now AS double precision), NULL,
           LEAST(CAST(:now AS double precision) + CAST(:idle AS double precision),
                 fam.expires_at)
    FROM fam
    RETURNING expires_at
)
SELECT fam.*, ins.expires_at AS successor_expires FROM fam CROSS JOIN ins
"""
)


_CREATE = text(
    """
WITH fam AS (
    INSERT INTO refresh_families
        (id, username, client_id, scope, delivery, created_at, expires_at)
    VALUES (CAST(:id AS varchar), CAST(:username AS varchar), CAST(:client_id AS varchar),
            CAST(:scope AS text), CAST(:delivery AS integer), CAST(:now AS double precision),
            CAST(:family_expires AS double precision))
    RETURNING id
)
INSERT INTO refresh_tokens
    (token_hash, family_id, parent_hash, state, created_at, consumed_at, expires_at)
SELECT CAST(:token_hash AS varchar), fam.id, NULL, 'active', CAST(:now AS double precision),
       NULL, CAST(:expires AS double precision)
FROM fam
"""
)


async def create_family_postgres(
    engine: AsyncEngine, family: Family, token_hash: str, expires: float
) -> None:
    """Insert a family and its first token in one atomic statement (one round trip)."""
    params = {
        "id": family.id,
        "username": family.username,
        "client_id": family.client_id,
        "scope": family.scope,
        "delivery": family.delivery,
        "now": family.created_at,
        "family_expires": family.expires_at,
        "token_hash": token_hash,
        "expires": expires,
    }
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(_CREATE, params)


async def rotate_postgres(
    engine: AsyncEngine, digest: str, successor: str, now: float, idle: float
) -> Rotation | None:
    """The rotation if ``digest`` was active and live, else ``None`` (nothing changed)."""
    params = {"now": now, "digest": digest, "successor": successor, "idle": idle}
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        row = (await auto.execute(_ROTATE, params)).first()
    if row is None:
        return None
    return Rotation(
        True,
        _family(row),
        "active",
        None,
        float(row.successor_expires),
        row.user_roles,
        bool(row.user_disabled),
    )
