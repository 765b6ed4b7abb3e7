"""The SQLite fast path: real multi-connection races and the busy fallback."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from jwtgate.auth.refresh import hash_token, new_refresh_token
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
                    r._pool, r._threaded, digest, hash_token(new_refresh_token()), now, 3600.0
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
