"""The SQLite fast path: real multi-connection races and the busy fallback."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
import sqlalchemy

from jwtgate.auth.refresh_model import hash_token, new_refresh_token
from jwtgate.auth.refresh_sqlite import SqliteRotator


async def test_threads_with_own_connections_race_on_one_token(sqlite_harness: Any) -> None:
    """50 rotations on 5 threads with separate connections: one winner (RFC 9700 4.14.2)."""
    h = sqlite_harness
    token = (await h.tokens())["refresh_token"]
    path = h.config.data_dir / "jwtgate.db"
    rotators = [SqliteRotator(path) for _ in range(5)]
    loop = asyncio.get_running_loop()
    digest, now = hash_token(token), h.clock()
    try:
        results = await asyncio.gather(
            *(
                loop.run_in_executor(
                    r._pool,
                    r._threaded,
                    r._rotate,
                    (digest, hash_token(new_refresh_token()), now, 3600.0),
                )
                for i in range(50)
                for r in [rotators[i % 5]]
            )
        )
    finally:
        for r in rotators:
            await r.close()
    assert sum(r.won for r in results) == 1
    assert all(r.state == "consumed" for r in results if not r.won)
    family = next(r.family for r in results if r.won)
    assert await h.server.core.refresh.token_counts(family.id) == {"consumed": 1, "active": 1}


async def test_busy_database_falls_back_to_the_waiting_thread(sqlite_harness: Any) -> None:
    """Another process holding the write lock: the inline attempt yields, nothing is lost."""
    h = sqlite_harness
    token = (await h.tokens())["refresh_token"]
    other = sqlite3.connect(h.config.data_dir / "jwtgate.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        pending = asyncio.create_task(h.refresh(token))
        fast = h.server.core._fast
        for _ in range(500):
            if fast.inline_busy:
                break
            await asyncio.sleep(0.01)
        assert fast.inline_busy == 1
        assert not pending.done()  # waiting for the lock on the rotator's thread
    finally:
        other.execute("COMMIT")
        other.close()
    response = await pending
    assert response.status_code == 200
    assert h.server.errors.count == 0


async def test_first_family_rows_match_the_portable_path(sqlite_harness: Any) -> None:
    """A family created inline holds exactly what the SQLAlchemy path would write."""
    h = sqlite_harness
    store, now = h.server.core.refresh, h.clock()
    families = []
    for fast in (True, False):
        store.fast_path = fast
        family, token, expires = await store.create_family("alice", "web", "read", 1, now)
        families.append((family, token, expires))
    store.fast_path = True
    for family, token, expires in families:
        assert await store.get_family(family.id) == family
        assert await store.token_counts(family.id) == {"active": 1}
        assert (await store.lookup(token, now)) == family
        assert expires == min(now + store._idle, family.expires_at)


async def test_busy_database_login_waits_for_the_lock(sqlite_harness: Any) -> None:
    """Another process holding the write lock: login's insert yields to the waiting thread."""
    h = sqlite_harness
    assert (await h.login()).status_code == 200  # the pair is trusted: no throttle write next
    other = sqlite3.connect(h.config.data_dir / "jwtgate.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    fast = h.server.core._fast
    try:
        pending = asyncio.create_task(h.login())
        for _ in range(500):
            if fast.inline_busy:
                break
            await asyncio.sleep(0.01)
        assert fast.inline_busy == 1  # the read ran inline; the insert had to wait
        assert not pending.done()
    finally:
        other.execute("COMMIT")
        other.close()
    response = await pending
    assert response.status_code == 200
    family = h.server.core.refresh
    assert await family.lookup(response.json()["refresh_token"], h.clock()) is not None


@pytest.mark.parametrize("statement", ["_CONSUME", "_FAMILY_AND_USER", "_FIND"])
def test_rotation_statements_use_indexes_only(tmp_path: Any, statement: str) -> None:
    """No full scan of any table per rotation: its cost must not grow with the families.

    An uncorrelated ``family_id IN (SELECT id FROM refresh_families ...)`` once
    made SQLite list every live family for every refresh.
    """
    from jwtgate.auth import refresh_sqlite
    from jwtgate.auth.schema import metadata

    path = tmp_path / "plan.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    sql = getattr(refresh_sqlite, statement)
    with sqlite3.connect(path) as conn:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, (0,) * sql.count("?"))]
    assert plan
    assert not [step for step in plan if step.startswith("SCAN")], plan
