"""Refresh-token families with rotation and reuse detection (RFC 9700 section 4.14.2).

A login creates a *family*; each refresh consumes the presented token with
ONE compare-and-set ``UPDATE ... WHERE state = 'active' ... RETURNING``, so
of any number of concurrent uses exactly one wins, on SQLite and PostgreSQL
alike, without a read-then-write race. The winner inserts the successor in
the same transaction.

A consumed token presented again is *reuse*: a stolen token and its
legitimate owner both hold it, and the server cannot tell which is which, so
the caller revokes the whole family. The only exception is the configured
grace window (``auth.refresh_grace_seconds``, default 0 = off): a consumed
token presented again within that many seconds of its consumption gets
``invalid_grant`` WITHOUT revoking the family. The grace window never hands
out a second successor (that would fork the family); it only spares a client
whose own requests raced (two tabs, a retry after a timeout) from being
logged out. Outside the window the family is revoked.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if TYPE_CHECKING:
    from jwtgate.auth.refresh_sqlite import SqliteRotator

from jwtgate.auth.db import reading, readonly
from jwtgate.auth.errors import InvalidGrant
from jwtgate.auth.refresh_families import RefreshFamilies
from jwtgate.auth.refresh_model import (
    _MAX_TOKEN_CHARS,
    Family,
    Reuse,
    Rotated,
    Rotation,
    _family,
    hash_token,
    new_refresh_token,
)
from jwtgate.auth.schema import refresh_families as _f
from jwtgate.auth.schema import refresh_tokens as _t
from jwtgate.auth.schema import users as _u
from jwtgate.auth.users import split_names

__all__ = ["RefreshStore"]


class RefreshStore(RefreshFamilies):
    """Families and tokens in the database; ``now`` always comes from the caller."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        idle_timeout: float,
        absolute_lifetime: float,
        grace: float,
        fast: SqliteRotator | None = None,
    ) -> None:
        self._fast = fast
        self.fast_path = True
        """Use the engine-specific single-hop rotation (False: the portable reference path)."""
        self._engine = engine
        self._reader = readonly(engine)
        self._idle = idle_timeout
        self._absolute = absolute_lifetime
        self._grace = grace

    async def create_family(
        self, username: str, client_id: str, scope: str, delivery: int, now: float
    ) -> tuple[Family, str, float]:
        """Start a family; returns it, its first refresh token and that token's expiry."""
        family = Family(
            secrets.token_urlsafe(16),
            username,
            client_id,
            scope,
            delivery,
            now,
            now + self._absolute,
            None,
        )
        token = new_refresh_token()
        expires = min(now + self._idle, family.expires_at)
        if self.fast_path and self._fast is not None:
            await self._fast.create_family(family, hash_token(token), expires)
            return family, token, expires
        if self.fast_path and self._engine.dialect.name == "postgresql":
            from jwtgate.auth.refresh_pg import create_family_postgres

            await create_family_postgres(self._engine, family, hash_token(token), expires)
            return family, token, expires
        async with self._engine.begin() as conn:
            await conn.execute(
                _f.insert().values(
                    id=family.id,
                    username=username,
                    client_id=client_id,
                    scope=scope,
                    delivery=delivery,
                    created_at=now,
                    expires_at=family.expires_at,
                )
            )
            await conn.execute(
                _t.insert().values(
                    token_hash=hash_token(token),
                    family_id=family.id,
                    state="active",
                    created_at=now,
                    expires_at=expires,
                )
            )
        return family, token, expires

    async def rotate(self, token: str, now: float) -> Rotated | Reuse:
        """Consume ``token`` and issue its successor; :class:`InvalidGrant` when unusable."""
        if not token or len(token) > _MAX_TOKEN_CHARS:
            raise InvalidGrant()
        digest = hash_token(token)
        successor = new_refresh_token()
        if not self.fast_path:
            record = await self._rotate_sqlalchemy(digest, hash_token(successor), now)
        elif self._fast is not None:
            record = await self._fast.rotate(digest, hash_token(successor), now, self._idle)
        elif self._engine.dialect.name == "postgresql":
            from jwtgate.auth.refresh_pg import rotate_postgres

            won = await rotate_postgres(
                self._engine, digest, hash_token(successor), now, self._idle
            )
            record = won if won is not None else await self._find(digest)
        else:
            record = await self._rotate_sqlalchemy(digest, hash_token(successor), now)
        family = record.family
        if record.won and family is not None:
            roles = None if record.roles is None else split_names(record.roles)
            return Rotated(family, successor, record.successor_expires, roles, record.disabled)
        if family is None or record.state != "consumed" or family.revoked_at is not None:
            raise InvalidGrant()
        if family.expires_at <= now:
            raise InvalidGrant()
        if record.consumed_at is not None and now - record.consumed_at <= self._grace:
            raise InvalidGrant("the refresh token was just used; use its successor")
        return Reuse(family)

    async def _rotate_sqlalchemy(self, digest: str, successor: str, now: float) -> Rotation:
        # Correlated on the family's primary key: one index lookup. An
        # uncorrelated "family_id IN (live families)" made SQLite list every
        # live family on each rotation, O(families) per refresh.
        live = (
            select(_f.c.id)
            .where(_f.c.id == _t.c.family_id, _f.c.revoked_at.is_(None), _f.c.expires_at > now)
            .exists()
        )
        async with self._engine.begin() as conn:
            # The compare-and-set: only one concurrent caller can match state='active'.
            won = (
                await conn.execute(
                    _t.update()
                    .where(
                        _t.c.token_hash == digest,
                        _t.c.state == "active",
                        _t.c.expires_at > now,
                        live,
                    )
                    .values(state="consumed", consumed_at=now)
                    .returning(_t.c.family_id)
                )
            ).first()
            if won is not None:
                row = (
                    await conn.execute(
                        select(_f, _u.c.roles.label("user_roles"), _u.c.disabled)
                        .outerjoin(_u, _u.c.username == _f.c.username)
                        .where(_f.c.id == won[0])
                    )
                ).one()
                family = _family(row)
                expires = min(now + self._idle, family.expires_at)
                await conn.execute(
                    _t.insert().values(
                        token_hash=successor,
                        family_id=family.id,
                        parent_hash=digest,
                        state="active",
                        created_at=now,
                        expires_at=expires,
                    )
                )
                return Rotation(
                    True, family, "active", None, expires, row.user_roles, bool(row.disabled)
                )
            return await self._find(digest, conn)

    async def _find(self, digest: str, conn: AsyncConnection | None = None) -> Rotation:
        """What a losing rotation found: the token's state and family, if any."""
        async with reading(self._reader, conn) as c:
            found = (
                await c.execute(
                    select(_t.c.state, _t.c.consumed_at, _f)
                    .join(_f, _f.c.id == _t.c.family_id)
                    .where(_t.c.token_hash == digest)
                )
            ).first()
        if found is None:
            return Rotation(False, None, None, None, 0.0, None, False)
        return Rotation(False, _family(found), found.state, found.consumed_at, 0.0, None, False)
