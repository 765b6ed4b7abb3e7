"""serve_standalone: the auth server alone on a loopback port, on both HTTP servers."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp
import pytest

from jwtgate.auth import AuthAdmin, serve_standalone
from jwtgate.config import JwtGateConfig


@pytest.mark.slow
@pytest.mark.parametrize("http_server", ["lean", "uvicorn"])
async def test_serve_standalone_end_to_end(
    tmp_path: Path, unused_port: int, http_server: str
) -> None:
    config = JwtGateConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "tokens": {"issuer": f"http://127.0.0.1:{unused_port}/auth"},
            "auth": {"argon2": {"time_cost": 1, "memory_cost": 8, "parallelism": 1}},
            "gateway": {"http_server": http_server},
        }
    )
    async with AuthAdmin.open(config) as admin:
        await admin.add_user("erin", "erin-e2e-password", ["user"])
    task = asyncio.create_task(serve_standalone(config, port=unused_port))
    base = f"http://127.0.0.1:{unused_port}/auth"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{base}/.well-known/oauth-authorization-server") as r:
                        meta = await r.json()
                        break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the auth server did not start")
            assert meta["issuer"] == base
            login = {"username": "erin", "password": "erin-e2e-password"}
            async with http.post(f"{base}/login", json=login) as r:
                assert r.status == 200
                tokens = await r.json()
            form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
            async with http.post(f"{base}/token", data=form) as r:
                assert r.status == 200
                new = await r.json()
            headers = {"Authorization": f"Bearer {new['access_token']}"}
            async with http.post(f"{base}/logout", headers=headers) as r:
                assert r.status == 200
            async with http.get(f"{base}/me", headers=headers) as r:
                assert r.status == 401
                assert "server" not in r.headers  # no software banner on either server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
