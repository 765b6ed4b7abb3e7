"""Refresh rotation, reuse detection and family lifetimes (RFC 9700 section 4.14.2)."""

from __future__ import annotations

from typing import Any

import pytest

from jwtgate.jose import decode_unverified


def _claims(token: str) -> dict[str, Any]:
    return decode_unverified(token)[1]


async def test_rotation_issues_a_new_pair_in_the_same_family(harness: Any) -> None:
    first = await harness.tokens()
    r = await harness.refresh(first["refresh_token"])
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert _claims(second["access_token"])["sid"] == _claims(first["access_token"])["sid"]
    assert _claims(second["access_token"])["jti"] != _claims(first["access_token"])["jti"]
    harness.clock.advance(10)
    third = await harness.refresh(second["refresh_token"])
    assert third.status_code == 200


async def test_reuse_revokes_the_family_and_its_access_tokens(harness: Any) -> None:
    first = await harness.tokens()
    sid = _claims(first["access_token"])["sid"]
    second = (await harness.refresh(first["refresh_token"])).json()
    harness.clock.advance(30)  # outside the 2 s grace window
    reuse = await harness.refresh(first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    # The successor is dead too, and so are the family's access tokens at the gateway.
    assert (await harness.refresh(second["refresh_token"])).status_code == 400
    assert harness.revoked(second["access_token"])
    assert harness.revoked(first["access_token"])
    me = await harness.client.get(
        "/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status_code == 401
    events = [e["event"] for e in harness.server.core.audit.recent(20)]
    assert "refresh_reuse_detected" in events
    family = await harness.server.core.refresh.get_family(sid)
    assert family.revoked_at is not None
    assert family.reason == "refresh_reuse"
    # Other sessions of the same user are unaffected.
    other = await harness.tokens()
    assert (await harness.refresh(other["refresh_token"])).status_code == 200


async def test_grace_window_refuses_without_revoking(harness: Any) -> None:
    """Documented grace behaviour: invalid_grant, no second successor, family kept."""
    first = await harness.tokens()
    second = (await harness.refresh(first["refresh_token"])).json()
    harness.clock.advance(1)  # within the 2 s window
    again = await harness.refresh(first["refresh_token"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert not harness.revoked(second["access_token"])
    assert (await harness.refresh(second["refresh_token"])).status_code == 200


async def test_idle_timeout(make_harness: Any, clock: Any) -> None:
    h = await make_harness(refresh_idle_timeout=100, refresh_absolute_lifetime=1000)
    body = await h.tokens()
    clock.advance(101)
    r = await h.refresh(body["refresh_token"])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


async def test_absolute_lifetime_is_not_extended_by_rotation(make_harness: Any, clock: Any) -> None:
    h = await make_harness(refresh_idle_timeout=100, refresh_absolute_lifetime=250)
    token = (await h.tokens())["refresh_token"]
    for _ in range(2):
        clock.advance(90)
        r = await h.refresh(token)
        assert r.status_code == 200
        token = r.json()["refresh_token"]
    clock.advance(90)  # 270 s after login: past the absolute lifetime
    assert (await h.refresh(token)).status_code == 400


@pytest.mark.parametrize(
    ("scope", "status", "granted"),
    [("api", 200, "api"), ("admin", 400, None), ("api admin", 400, None)],
)
async def test_refresh_scope_may_only_narrow(
    sqlite_harness: Any, scope: str, status: int, granted: str | None
) -> None:
    """RFC 6749 section 6: the scope must not exceed the original grant."""
    body = await sqlite_harness.tokens()
    r = await sqlite_harness.refresh(body["refresh_token"], scope=scope)
    assert r.status_code == status
    if granted is not None:
        assert r.json()["scope"] == granted
    else:
        assert r.json()["error"] == "invalid_scope"


async def test_refresh_picks_up_role_changes_and_stops_for_disabled_users(harness: Any) -> None:
    body = await harness.tokens("bob", "bob-the-builder-42")
    await harness.admin.set_roles("bob", ["user", "auditor"])
    r = await harness.refresh(body["refresh_token"])
    assert sorted(_claims(r.json()["access_token"])["roles"]) == ["auditor", "user"]
    await harness.admin.disable_user("bob")
    assert (await harness.refresh(r.json()["refresh_token"])).status_code == 400
    assert harness.revoked(r.json()["access_token"])


@pytest.mark.parametrize(
    "token",
    ["", "x", "not-a-token-" * 4, "a.b.c", "\u00e9" * 43, "A" * 600],
    ids=["empty", "short", "random", "jwt-shaped", "non-ascii", "oversized"],
)
async def test_unknown_refresh_tokens(harness: Any, token: str) -> None:
    r = await harness.refresh(token)
    assert r.status_code == 400
    assert r.json()["error"] in {"invalid_grant", "invalid_request"}


async def test_access_token_is_not_a_refresh_token(harness: Any) -> None:
    """RFC 8725 section 3.12: token types are never interchangeable."""
    body = await harness.tokens()
    r = await harness.refresh(body["access_token"])
    assert r.status_code == 400
    me = await harness.client.get(
        "/auth/me", headers={"Authorization": f"Bearer {body['refresh_token']}"}
    )
    assert me.status_code == 401
