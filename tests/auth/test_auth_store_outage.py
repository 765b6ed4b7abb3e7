"""A revocation store outage is a clear, retryable 503, never a 500 (and nothing is lost)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from jwtgate.auth import AuthServer
from jwtgate.clock import system_clock
from jwtgate.config import JwtGateConfig
from jwtgate.jose import Keyring
from jwtgate.revocation import RedisRevocationStore

ALICE = ("alice", "correct-horse-battery")
BASE_URL = "https://auth.test"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


@pytest.fixture
async def private_redis(unused_port: int) -> AsyncIterator[tuple[int, Process]]:
    """A Redis server of this test's own, so the test can take it down."""
    args = ["--port", str(unused_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = await asyncio.create_subprocess_exec(
        "redis-server", *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", unused_port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    try:
        yield unused_port, proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_logout_during_redis_outage_is_503_then_retry_succeeds(
    tmp_path: Path, private_redis: tuple[int, Process]
) -> None:
    port, proc = private_redis
    config = JwtGateConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "tokens": {"issuer": f"{BASE_URL}/auth", "audience": "api"},
            "auth": {"argon2": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}},
        }
    )
    store = RedisRevocationStore(f"redis://127.0.0.1:{port}/0", prefix="outage:")
    keyring = Keyring.open(config.data_dir, clock=system_clock)
    server = AuthServer(config, keyring=keyring, revocation=store)
    await server.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app), base_url=BASE_URL)
    try:
        await server.admin.add_user(*ALICE, roles=["user"])
        login = await client.post("/auth/login", json={"username": ALICE[0], "password": ALICE[1]})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        proc.kill()
        await proc.wait()
        r = await client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503
        assert r.json()["error"] == "temporarily_unavailable"
        assert r.headers["retry-after"] == "5"
        assert token not in r.text
        assert server.errors.count == 0  # the catch-all 500 guard was never reached
    finally:
        await client.aclose()
        await server.close()
