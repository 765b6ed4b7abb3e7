"""The revocation table: source of truth for every revocation, replayed into the store.

Every revocation writes a row AND is published to the process's
:class:`~jwtgate.revocation.RevocationStore`. Other writers (the CLI, other
auth instances) only write rows, so :class:`RevocationLog` polls for new
rows and publishes them too (publishing is idempotent). Rows are polled by
id and, because PostgreSQL sequence values can commit out of order, rows
created in the last few seconds are re-read on every poll as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jwtgate.auth.db import readonly
from jwtgate.auth.schema import revocations as _r
from jwtgate.revocation import RevocationEvent, RevocationKind, RevocationStore

__all__ = ["RevocationLog"]

_REREAD_SECONDS = 30.0


class RevocationLog:
    """Writes revocation rows, publishes them, and replays rows written elsewhere."""

    def __init__(self, engine: AsyncEngine, store: RevocationStore | None) -> None:
        self._engine = engine
        self._reader = readonly(engine)
        self._store = store
        self._last_id = 0
        # Row ids already published by this process (id -> created_at), so the
        # re-read window never publishes a row twice (each publish may be a
        # Redis round trip and a fan-out to every gateway worker).
        self._seen: dict[int, float] = {}

    async def record(self, event: RevocationEvent, now: float) -> None:
        """Persist ``event`` and publish it to this process's store."""
        async with self._engine.begin() as conn:
            row_id = (
                await conn.execute(
                    _r.insert()
                    .values(
                        kind=event.kind.value,
                        value=event.value,
                        expires_at=event.expires_at,
                        not_before=event.not_before,
                        created_at=now,
                    )
                    .returning(_r.c.id)
                )
            ).scalar_one()
        self._seen[int(row_id)] = now
        if self._store is not None:
            await self._store.publish(event)

    async def load(self, now: float) -> int:
        """Publish every live row (at start); returns how many."""
        async with self._reader.connect() as conn:
            rows = list(await conn.execute(select(_r).where(_r.c.expires_at > now)))
            top = (await conn.execute(select(func.max(_r.c.id)))).scalar()
        self._last_id = int(top or 0)
        self._seen.update((int(r.id), float(r.created_at)) for r in rows)
        await self._publish(rows)
        return len(rows)

    async def poll(self, now: float) -> int:
        """Publish rows written elsewhere since the last poll; returns how many."""
        async with self._reader.connect() as conn:
            rows = list(
                await conn.execute(
                    select(_r)
                    .where(
                        or_(_r.c.id > self._last_id, _r.c.created_at > now - _REREAD_SECONDS),
                        _r.c.expires_at > now,
                    )
                    .order_by(_r.c.id)
                )
            )
        if rows:
            self._last_id = max(self._last_id, max(int(r.id) for r in rows))
        fresh = [r for r in rows if int(r.id) not in self._seen]
        self._seen.update((int(r.id), float(r.created_at)) for r in fresh)
        horizon = now - 2 * _REREAD_SECONDS
        self._seen = {i: t for i, t in self._seen.items() if t >= horizon or i >= self._last_id}
        await self._publish(fresh)
        return len(fresh)

    async def _publish(self, rows: Sequence[Row[Any]]) -> None:
        if self._store is None:
            return
        for row in rows:
            try:
                event = RevocationEvent(
                    RevocationKind(row.kind),
                    row.value,
                    float(row.expires_at),
                    float(row.not_before),
                )
            except ValueError:
                continue  # a kind from a newer version; skip rather than fail the poll
            await self._store.publish(event)

    async def prune(self, now: float) -> int:
        """Delete rows whose tokens have all expired."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(_r).where(_r.c.expires_at < now))
        return int(result.rowcount or 0)
