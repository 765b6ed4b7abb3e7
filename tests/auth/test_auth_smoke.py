"""Smoke: login, refresh, me over HTTP on both databases."""

from __future__ import annotations

from typing import Any


async def test_login_refresh_me(harness: Any) -> None:
    body = await harness.tokens()
    assert body["token_type"] == "Bearer"
    me = await harness.client.get(
        "/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200, me.text
    assert me.json()["sub"] == "alice"
    r = await harness.refresh(body["refresh_token"])
    assert r.status_code == 200, r.text
    assert harness.server.errors.count == 0
