"""POST /auth/login: success, no user enumeration (OWASP ASVS V2.2), scopes, re-hashing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jwtgate.jose import decode_unverified

ALICE = ("alice", "correct-horse-battery")
BOB = ("bob", "bob-the-builder-42")


async def test_login_returns_rfc6749_token_response(harness: Any) -> None:
    r = await harness.login()
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"  # RFC 6749 section 5.1
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == harness.config.tokens.access_ttl
    assert body["scope"] == "api"
    header, claims = decode_unverified(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert claims["iss"] == "https://auth.test/auth"
    assert claims["sub"] == "alice"
    assert sorted(claims["roles"]) == ["admin", "user"]
    assert claims["client_id"] == "jwtgate"
    assert isinstance(claims["sid"], str)
    assert len(claims["sid"]) >= 22
    # RFC 8725 section 3.12: the refresh token is opaque, never a JWT.
    assert body["refresh_token"].count(".") == 0
    assert len(body["refresh_token"]) >= 43  # 256 bits in base64url


@pytest.mark.parametrize(
    ("username", "password", "case"),
    [
        ("alice", "wrong-password-1", "wrong password"),
        ("nobody", "whatever-password", "unknown user"),
        ("ALICE", ALICE[1], "username is case-sensitive"),
        ("a" * 500, "x" * 20, "overlong username"),
        ("alice", "x" * 3000, "overlong password"),
    ],
)
async def test_bad_credentials_are_indistinguishable(
    harness: Any, username: str, password: str, case: str
) -> None:
    """OWASP Authentication Cheat Sheet: same status, body and work for every failure."""
    before = harness.server.core.passwords.verify_calls
    r = await harness.login(username, password)
    assert r.status_code == 401, case
    assert r.json() == {
        "error": "invalid_grant",
        "error_description": "invalid username or password",
    }
    if len(password) <= 1024:
        # Unknown users are verified against a dummy hash: argon2 ran in both cases.
        assert harness.server.core.passwords.verify_calls == before + 1, case


async def test_disabled_user_gets_the_same_failure(harness: Any) -> None:
    await harness.admin.disable_user("bob")
    r = await harness.login(*BOB)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_grant"
    await harness.admin.enable_user("bob")
    assert (await harness.login(*BOB)).status_code == 200


@pytest.mark.parametrize(
    ("scope", "status", "granted"),
    [(None, 200, "api"), ("api", 200, "api"), ("admin", 400, None), ("api  api", 400, None)],
)
async def test_login_scope(
    sqlite_harness: Any, scope: str | None, status: int, granted: str | None
) -> None:
    extra: dict[str, Any] = {} if scope is None else {"scope": scope}
    r = await sqlite_harness.login(**extra)
    assert r.status_code == status
    if granted is None:
        assert r.json()["error"] == "invalid_scope"
    else:
        assert r.json()["scope"] == granted


async def test_rehash_on_login_when_parameters_change(make_harness: Any) -> None:
    first = await make_harness()
    old = (await first.server.core.users.get_user("alice")).password_hash
    await first.close()
    stronger = {"time_cost": 2, "memory_cost": 16, "parallelism": 1}
    second = await make_harness(seed=False, argon2=stronger)
    assert (await second.login()).status_code == 200
    new = (await second.server.core.users.get_user("alice")).password_hash
    assert new != old
    assert "m=16,t=2" in new
    assert "m=8,t=1" in old
    events = [e["event"] for e in second.server.core.audit.recent(10)]
    assert "password_rehashed" in events
    assert (await second.login()).status_code == 200  # the new hash verifies


async def test_login_events_are_audited(harness: Any) -> None:
    await harness.login("alice", "not-the-password")
    await harness.login()
    lines = (harness.config.data_dir / "audit.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert "login_failure" in events
    assert "login_success" in events
