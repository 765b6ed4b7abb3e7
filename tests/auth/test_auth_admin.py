"""AuthAdmin: users, clients and revocations, from the CLI path and reaching a running server."""

from __future__ import annotations

from typing import Any

import pytest

from jwtgate.auth import AuthAdmin
from jwtgate.auth.errors import (
    ClientExists,
    InvalidRequest,
    UnknownClient,
    UnknownFamily,
    UnknownUser,
    UserExists,
    WeakPassword,
)
from jwtgate.jose import decode_unverified


async def test_user_lifecycle(harness: Any) -> None:
    admin = harness.admin
    info = await admin.add_user("carol", "carol-sings-loud", ["user"])
    assert info.roles == ("user",)
    assert info.disabled is False
    with pytest.raises(UserExists):
        await admin.add_user("carol", "another-password-1")
    assert [u.username for u in await admin.list_users()] == ["alice", "bob", "carol"]
    await admin.set_roles("carol", ["auditor", "user", "user"])
    assert (await admin.get_user("carol")).roles == ("auditor", "user")
    assert await admin.ensure_user("carol", "ignored-password-1", []) is False
    assert await admin.ensure_user("dave", "dave-digs-holes", ["user"]) is True
    with pytest.raises(UnknownUser):
        await admin.get_user("nobody")
    with pytest.raises(UnknownUser):
        await admin.disable_user("nobody")
    with pytest.raises(InvalidRequest):
        await admin.add_user("bad name", "long-enough-password")
    with pytest.raises(InvalidRequest):
        await admin.set_roles("carol", ["bad role"])


async def test_set_password_revokes_sessions(harness: Any) -> None:
    body = await harness.tokens()
    harness.clock.advance(5)
    await harness.admin.set_password("alice", "a-brand-new-secret")
    assert harness.revoked(body["access_token"])
    assert (await harness.refresh(body["refresh_token"])).status_code == 400
    assert (await harness.login()).status_code == 401
    harness.clock.advance(1)
    r = await harness.login("alice", "a-brand-new-secret")
    assert r.status_code == 200
    assert not harness.revoked(r.json()["access_token"])


async def test_clients(harness: Any) -> None:
    admin = harness.admin
    secret = await admin.add_client("reports", scopes=["read"], roles=["svc"])
    assert len(secret) >= 43
    with pytest.raises(ClientExists):
        await admin.add_client("reports", scopes=[])
    with pytest.raises(InvalidRequest):
        await admin.add_client("jwtgate", scopes=[])  # reserved for user logins
    listed = await admin.list_clients()
    assert [(c.client_id, c.scopes, c.roles) for c in listed] == [("reports", ("read",), ("svc",))]
    stored = await harness.server.core.users.get_client("reports")
    assert secret not in stored.secret_hash  # stored hashed only
    await admin.remove_client("reports")
    with pytest.raises(UnknownClient):
        await admin.remove_client("reports")


async def test_admin_revocations_publish_events(harness: Any) -> None:
    body = await harness.tokens()
    claims = decode_unverified(body["access_token"])[1]
    await harness.admin.revoke_jti(claims["jti"])
    assert harness.revoked(body["access_token"])
    other = await harness.tokens("bob", "bob-the-builder-42")
    sid = decode_unverified(other["access_token"])[1]["sid"]
    await harness.admin.revoke_family(sid)
    assert harness.revoked(other["access_token"])
    assert (await harness.refresh(other["refresh_token"])).status_code == 400
    with pytest.raises(UnknownFamily):
        await harness.admin.revoke_family("no-such-family")
    third = await harness.tokens("bob", "bob-the-builder-42")
    await harness.admin.revoke_subject("bob")
    assert harness.revoked(third["access_token"])
    kinds = [
        e.get("kind") for e in await harness.admin.recent_audit(10) if e["event"] == "revocation"
    ]
    assert {"jti", "sid", "sub"} <= set(kinds)


async def test_cli_revocation_reaches_the_running_server(harness: Any) -> None:
    """AuthAdmin.open (the CLI path) only writes rows; the server's poll publishes them."""
    body = await harness.tokens()
    async with AuthAdmin.open(harness.config, clock=harness.clock) as cli:
        await cli.disable_user("alice")
    assert not harness.revoked(body["access_token"])  # not yet: another process wrote it
    await harness.server.poll_once()
    assert harness.revoked(body["access_token"])
    assert (await harness.refresh(body["refresh_token"])).status_code == 400


async def test_revocations_survive_a_restart(harness: Any) -> None:
    """Live revocations are reloaded from the database into a fresh store at start."""
    body = await harness.tokens()
    await harness.client.post(
        "/auth/logout", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    fresh = type(harness)(harness.config, harness.clock)
    await fresh.server.start()
    try:
        assert fresh.revoked(body["access_token"])
    finally:
        await fresh.close()


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "NIST SP 800-63B 5.1.1.2: at least 8 characters"),
        ("x" * 129, "policy maximum 128"),
        ("password", "common list"),
        ("Password123", "common list, case-insensitive"),
        ("qwertyuiop", "common list"),
        ("iloveyou", "common list"),
        ("carolcarol", "equals the username"),
        ("with\x00nul-char", "NUL"),
    ],
)
async def test_weak_passwords_are_refused(sqlite_harness: Any, password: str, reason: str) -> None:
    with pytest.raises(WeakPassword):
        await sqlite_harness.admin.add_user("carolcarol", password)
    if password != "carolcarol":  # only weak for that username
        with pytest.raises(WeakPassword):
            await sqlite_harness.admin.set_password("alice", password)


async def test_poll_publishes_each_foreign_row_once(harness: Any) -> None:
    """Rows written by this process are never re-published; foreign rows exactly once."""
    revlog = harness.server.core.revlog
    await harness.admin.revoke_jti("local-jti")
    assert await revlog.poll(harness.clock()) == 0
    async with AuthAdmin.open(harness.config, clock=harness.clock) as cli:
        await cli.revoke_jti("foreign-jti")
        await cli.revoke_subject("someone")
    before = harness.store.view.applied
    assert await revlog.poll(harness.clock()) == 2
    assert harness.store.view.applied == before + 2
    harness.clock.advance(5)
    assert await revlog.poll(harness.clock()) == 0
    assert harness.store.view.applied == before + 2
