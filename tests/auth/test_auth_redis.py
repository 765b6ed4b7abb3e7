"""Revocations from the auth server reach another worker's view through Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from jwtgate.auth import AuthServer
from jwtgate.clock import FrozenClock
from jwtgate.config import JwtGateConfig
from jwtgate.jose import Keyring, decode_unverified
from jwtgate.revocation.redis import RedisRevocationStore


@pytest.mark.redis
async def test_logout_reaches_another_worker_through_redis(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    clock = FrozenClock()
    config = JwtGateConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "tokens": {"issuer": "https://auth.test/auth"},
            "auth": {"argon2": {"time_cost": 1, "memory_cost": 8, "parallelism": 1}},
            "revocation": {"backend": "redis"},
        }
    )
    auth_store = RedisRevocationStore(redis_url, prefix=redis_prefix, clock=clock)
    gateway_store = RedisRevocationStore(redis_url, prefix=redis_prefix, clock=clock)
    await auth_store.start()
    await gateway_store.start()
    server = AuthServer(
        config, keyring=Keyring.open(tmp_path, clock=clock), revocation=auth_store, clock=clock
    )
    await server.start()
    try:
        await server.admin.add_user("dana", "dana-password-1", ["user"])
        transport = httpx.ASGITransport(app=server.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://auth.test") as http:
            body = (
                await http.post(
                    "/auth/login", json={"username": "dana", "password": "dana-password-1"}
                )
            ).json()
            claims: dict[str, Any] = decode_unverified(body["access_token"])[1]
            assert not gateway_store.view.is_revoked_claims(claims)
            r = await http.post(
                "/auth/logout", headers={"Authorization": f"Bearer {body['access_token']}"}
            )
            assert r.status_code == 200
        for _ in range(200):  # pub/sub delivery is asynchronous
            if gateway_store.view.is_revoked_claims(claims):
                break
            await asyncio.sleep(0.01)
        assert gateway_store.view.is_revoked_claims(claims)
    finally:
        await server.close()
        await auth_store.close()
        await gateway_store.close()
