"""50 concurrent refreshes of one token: exactly one successor, no lost or duplicated rows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from jwtgate.jose import decode_unverified

N = 50


async def _race(client: httpx.AsyncClient, token: str) -> list[httpx.Response]:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    return list(await asyncio.gather(*(client.post("/auth/token", data=form) for _ in range(N))))


async def _check(h: Any, responses: list[httpx.Response], first: dict[str, Any]) -> None:
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) == N - 1
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code == 400)
    winner = next(r.json() for r in responses if r.status_code == 200)
    sid = decode_unverified(first["access_token"])[1]["sid"]
    # Exactly two rows: the consumed original and its one active successor.
    assert await h.server.core.refresh.token_counts(sid) == {"consumed": 1, "active": 1}
    # Within the grace window the losers did not revoke the family ...
    assert (await h.refresh(winner["refresh_token"])).status_code == 200
    # ... but reuse after the window does.
    h.clock.advance(10)
    assert (await h.refresh(first["refresh_token"])).status_code == 400
    assert await h.server.core.refresh.token_counts(sid) == {"consumed": 2, "revoked": 1}
    assert h.server.errors.count == 0


async def test_concurrent_refreshes_in_process(harness: Any) -> None:
    """Real concurrency against the real database (SQLite and PostgreSQL)."""
    first = await harness.tokens()
    responses = await _race(harness.client, first["refresh_token"])
    await _check(harness, responses, first)


async def test_concurrent_refreshes_on_the_portable_path(harness: Any) -> None:
    """The engine-neutral SQLAlchemy rotation obeys the same contract as the fast paths."""
    harness.server.core.refresh.fast_path = False
    first = await harness.tokens()
    responses = await _race(harness.client, first["refresh_token"])
    await _check(harness, responses, first)


@contextlib.asynccontextmanager
async def _uvicorn(app: Any, port: int) -> AsyncIterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.slow
async def test_concurrent_refreshes_over_real_http(harness: Any, unused_port: int) -> None:
    """The same race through a real uvicorn server on a loopback port."""
    first = await harness.tokens()
    async with _uvicorn(harness.server.app, unused_port) as url:
        limits = httpx.Limits(max_connections=N)
        async with httpx.AsyncClient(base_url=url, limits=limits) as client:
            responses = await _race(client, first["refresh_token"])
    await _check(harness, responses, first)
