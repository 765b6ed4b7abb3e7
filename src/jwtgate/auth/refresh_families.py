"""Reading and ending refresh families: lookups, revocation, counts, pruning.

The base of :class:`jwtgate.auth.refresh.RefreshStore`, split out so that
module holds only family creation and the rotation compare-and-set. Lookups
back introspection (RFC 7662) and revocation (RFC 7009); revoking a family
marks its active tokens revoked in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jwtgate.auth.refresh_model import _MAX_TOKEN_CHARS, Family, _family, hash_token
from jwtgate.auth.schema import refresh_families as _f
from jwtgate.auth.schema import refresh_tokens as _t

__all__ = ["RefreshFamilies"]


class RefreshFamilies:
    """Queries on existing families; ``now`` always comes from the caller."""

    # Set by RefreshStore.__init__; declared here for the methods below.
    _engine: AsyncEngine
    _reader: AsyncEngine

    async def lookup(self, token: str, now: float) -> Family | None:
        """The live family of an active, unexpired token (for introspection/revocation)."""
        if not token or len(token) > _MAX_TOKEN_CHARS:
            return None
        async with self._reader.connect() as conn:
            row = (
                await conn.execute(
                    select(_t.c.state, _t.c.expires_at.label("token_expires"), _f)
                    .join(_f, _f.c.id == _t.c.family_id)
                    .where(_t.c.token_hash == hash_token(token))
                )
            ).first()
        if row is None or row.state != "active" or row.token_expires <= now:
            return None
        family = _family(row)
        if family.revoked_at is not None or family.expires_at <= now:
            return None
        return family

    async def family_of_any(self, token: str) -> Family | None:
        """The family of a token in any state (revocation of a consumed token)."""
        if not token or len(token) > _MAX_TOKEN_CHARS:
            return None
        async with self._reader.connect() as conn:
            row = (
                await conn.execute(
                    select(_f)
                    .join(_t, _f.c.id == _t.c.family_id)
                    .where(_t.c.token_hash == hash_token(token))
                )
            ).first()
        return None if row is None else _family(row)

    async def get_family(self, family_id: str) -> Family | None:
        """A family by id."""
        async with self._reader.connect() as conn:
            row = (await conn.execute(select(_f).where(_f.c.id == family_id))).first()
        return None if row is None else _family(row)

    async def revoke_family(self, family_id: str, now: float, reason: str) -> bool:
        """Revoke a family and its active tokens; True if it was live."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                _f.update()
                .where(_f.c.id == family_id, _f.c.revoked_at.is_(None))
                .values(revoked_at=now, reason=reason)
            )
            await conn.execute(
                _t.update()
                .where(_t.c.family_id == family_id, _t.c.state == "active")
                .values(state="revoked")
            )
        return bool(result.rowcount)

    async def revoke_user(self, username: str, now: float, reason: str) -> list[str]:
        """Revoke every live family of a user; returns their ids."""
        async with self._engine.begin() as conn:
            ids = [
                r[0]
                for r in await conn.execute(
                    _f.update()
                    .where(_f.c.username == username, _f.c.revoked_at.is_(None))
                    .values(revoked_at=now, reason=reason)
                    .returning(_f.c.id)
                )
            ]
            if ids:
                await conn.execute(
                    _t.update()
                    .where(_t.c.family_id.in_(ids), _t.c.state == "active")
                    .values(state="revoked")
                )
        return ids

    async def token_counts(self, family_id: str) -> dict[str, int]:
        """Rows per state in a family (operations and tests)."""
        async with self._reader.connect() as conn:
            rows = await conn.execute(
                select(_t.c.state, func.count())
                .where(_t.c.family_id == family_id)
                .group_by(_t.c.state)
            )
            return {str(state): int(n) for state, n in rows}

    async def prune(self, now: float) -> int:
        """Delete families (and their tokens) that expired more than a day ago."""
        async with self._engine.begin() as conn:
            old = select(_f.c.id).where(_f.c.expires_at < now - 86400).scalar_subquery()
            await conn.execute(_t.delete().where(_t.c.family_id.in_(old)))
            result = await conn.execute(_f.delete().where(_f.c.expires_at < now - 86400))
        return int(result.rowcount or 0)
