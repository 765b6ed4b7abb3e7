"""Logout, RFC 7009 revocation, RFC 7662 introspection, client credentials, password grant."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from jwtgate.jose import decode_unverified


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def test_logout_revokes_token_and_family(harness: Any) -> None:
    body = await harness.tokens()
    r = await harness.client.post("/auth/logout", headers=_bearer(body["access_token"]))
    assert r.status_code == 200
    assert r.json() == {"logged_out": True}
    assert harness.revoked(body["access_token"])
    assert (await harness.refresh(body["refresh_token"])).status_code == 400
    again = await harness.client.post("/auth/logout", headers=_bearer(body["access_token"]))
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_token"
    assert again.headers["www-authenticate"].startswith("Bearer")


async def test_logout_without_token(sqlite_harness: Any) -> None:
    r = await sqlite_harness.client.post("/auth/logout")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert r.headers["www-authenticate"] == 'Bearer realm="jwtgate"'


async def test_logout_all_revokes_every_session_and_older_tokens(harness: Any) -> None:
    one, two = await harness.tokens(), await harness.tokens()
    bob = await harness.tokens("bob", "bob-the-builder-42")
    r = await harness.client.post("/auth/logout-all", headers=_bearer(one["access_token"]))
    assert r.status_code == 200
    assert r.json()["sessions_revoked"] == 2
    for body in (one, two):
        assert harness.revoked(body["access_token"])
        assert (await harness.refresh(body["refresh_token"])).status_code == 400
    assert not harness.revoked(bob["access_token"])
    harness.clock.advance(1)  # iat has one-second resolution (RFC 7519 NumericDate)
    fresh = await harness.tokens()
    assert not harness.revoked(fresh["access_token"])


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token", "bogus_hint"])
async def test_rfc7009_revoke_refresh_token(sqlite_harness: Any, hint: str | None) -> None:
    body = await sqlite_harness.tokens()
    form = {"token": body["refresh_token"]}
    if hint:
        form["token_type_hint"] = hint
    r = await sqlite_harness.client.post("/auth/revoke", data=form)
    assert r.status_code == 200
    assert (await sqlite_harness.refresh(body["refresh_token"])).status_code == 400
    # RFC 7009 section 2.1: the access tokens of the same grant go too.
    assert sqlite_harness.revoked(body["access_token"])


async def test_rfc7009_revoke_access_token(harness: Any) -> None:
    body = await harness.tokens()
    r = await harness.client.post(
        "/auth/revoke", data={"token": body["access_token"], "token_type_hint": "access_token"}
    )
    assert r.status_code == 200
    assert harness.revoked(body["access_token"])
    # Only that token: the refresh family still works.
    assert (await harness.refresh(body["refresh_token"])).status_code == 200


@pytest.mark.parametrize("token", ["unknown", "a.b.c", "x" * 20000])
async def test_rfc7009_unknown_tokens_get_200(harness: Any, token: str) -> None:
    """RFC 7009 section 2.2: invalid tokens do not cause an error response."""
    r = await harness.client.post("/auth/revoke", data={"token": token})
    assert r.status_code in (200, 413)


async def test_client_credentials_and_introspection(harness: Any) -> None:
    secret = await harness.admin.add_client("billing", scopes=["read", "write"], roles=["svc"])
    r = await harness.client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "scope": "read"},
        headers=_basic("billing", secret),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "refresh_token" not in body  # RFC 6749 section 4.4.3
    claims = decode_unverified(body["access_token"])[1]
    assert claims["sub"] == "billing"
    assert claims["client_id"] == "billing"
    assert claims["scope"] == "read"
    assert "sid" not in claims
    # client_secret_post works too (RFC 6749 section 2.3.1).
    post = await harness.client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": "billing", "client_secret": secret},
    )
    assert post.json()["scope"] == "read write"
    user = await harness.tokens()
    for token, kind in ((user["access_token"], "Bearer"), (user["refresh_token"], "refresh_token")):
        info = await harness.client.post(
            "/auth/introspect", data={"token": token}, headers=_basic("billing", secret)
        )
        assert info.status_code == 200
        assert info.json()["active"] is True
        assert info.json()["token_type"] == kind
        assert info.json()["sub"] == "alice"
    await harness.client.post("/auth/logout", headers=_bearer(user["access_token"]))
    for token in (user["access_token"], user["refresh_token"], "garbage", "a.b.c"):
        info = await harness.client.post(
            "/auth/introspect", data={"token": token}, headers=_basic("billing", secret)
        )
        assert info.json() == {"active": False}


@pytest.mark.parametrize(
    ("headers", "form", "status", "error"),
    [
        ({}, {}, 401, "invalid_client"),
        ({"Authorization": "Basic !!!"}, {}, 401, "invalid_client"),
        ("wrong-secret", {}, 401, "invalid_client"),
        ("unknown-client", {}, 401, "invalid_client"),
        ("good", {"client_secret": "x"}, 400, "invalid_request"),  # RFC 6749 2.3: one method
        ({}, {"client_id": "billing"}, 401, "invalid_client"),
        ("good", {"scope": "admin"}, 400, "invalid_scope"),
    ],
    ids=["none", "malformed", "wrong-secret", "unknown", "two-methods", "id-only", "scope"],
)
async def test_client_authentication_failures(
    harness: Any, headers: Any, form: dict[str, str], status: int, error: str
) -> None:
    secret = await harness.admin.add_client("billing", scopes=["read"])
    if headers == "good":
        headers = _basic("billing", secret)
    elif headers == "wrong-secret":
        headers = _basic("billing", secret + "x")
    elif headers == "unknown-client":
        headers = _basic("nobody", secret)
    r = await harness.client.post(
        "/auth/token", data={"grant_type": "client_credentials", **form}, headers=headers
    )
    assert r.status_code == status
    assert r.json()["error"] == error
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Basic")
    if error != "invalid_scope":  # introspection has no scope parameter
        r = await harness.client.post(
            "/auth/introspect", data={"token": "x", **form}, headers=headers
        )
        assert r.status_code == status


async def test_confidential_tokens_need_their_client_to_revoke(harness: Any) -> None:
    secret = await harness.admin.add_client("billing", scopes=["read"])
    other = await harness.admin.add_client("shipping", scopes=["read"])
    token = (
        await harness.client.post(
            "/auth/token",
            data={"grant_type": "client_credentials"},
            headers=_basic("billing", secret),
        )
    ).json()["access_token"]
    anon = await harness.client.post("/auth/revoke", data={"token": token})
    assert anon.status_code == 401
    wrong = await harness.client.post(
        "/auth/revoke", data={"token": token}, headers=_basic("shipping", other)
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "unauthorized_client"
    assert not harness.revoked(token)
    ok = await harness.client.post(
        "/auth/revoke", data={"token": token}, headers=_basic("billing", secret)
    )
    assert ok.status_code == 200
    assert harness.revoked(token)


async def test_password_grant_is_off_by_default(harness: Any) -> None:
    r = await harness.client.post(
        "/auth/token",
        data={"grant_type": "password", "username": "alice", "password": "correct-horse-battery"},
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


async def test_password_grant_when_enabled(make_harness: Any) -> None:
    h = await make_harness(password_grant=True)
    r = await h.client.post(
        "/auth/token",
        data={"grant_type": "password", "username": "alice", "password": "correct-horse-battery"},
    )
    assert r.status_code == 200
    assert "refresh_token" in r.json()
    bad = await h.client.post(
        "/auth/token", data={"grant_type": "password", "username": "alice", "password": "nope"}
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_grant"
    meta = (await h.client.get("/auth/.well-known/oauth-authorization-server")).json()
    assert "password" in meta["grant_types_supported"]


async def test_discovery_is_consistent(sqlite_harness: Any) -> None:
    """RFC 8414: issuer equals the tokens' iss; jwks_uri serves the signing key."""
    meta = await sqlite_harness.client.get("/auth/.well-known/oauth-authorization-server")
    assert meta.status_code == 200
    doc = meta.json()
    assert doc["issuer"] == "https://auth.test/auth"
    assert doc["token_endpoint"] == "https://auth.test/auth/token"
    assert doc["revocation_endpoint"] == "https://auth.test/auth/revoke"
    assert doc["introspection_endpoint"] == "https://auth.test/auth/introspect"
    assert doc["grant_types_supported"] == ["refresh_token", "client_credentials"]
    jwks = await sqlite_harness.client.get(doc["jwks_uri"].removeprefix("https://auth.test"))
    assert jwks.status_code == 200
    assert jwks.headers["cache-control"] == "public, max-age=300"
    keys = jwks.json()["keys"]
    assert all("d" not in k for k in keys)
    header, claims = decode_unverified((await sqlite_harness.tokens())["access_token"])
    assert claims["iss"] == doc["issuer"]
    assert header["kid"] in {k["kid"] for k in keys}
    assert header["alg"] in doc["access_token_signing_alg_values_supported"]


async def test_openapi_and_offline_docs(sqlite_harness: Any) -> None:
    spec = await sqlite_harness.client.get("/auth/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/auth/login",
        "/auth/token",
        "/auth/revoke",
        "/auth/introspect",
        "/auth/logout",
        "/auth/logout-all",
        "/auth/me",
        "/auth/admin/audit",
        "/auth/.well-known/jwks.json",
    ):
        assert path in paths
    assert "requestBody" in paths["/auth/login"]["post"]
    docs = await sqlite_harness.client.get("/auth/docs")
    assert docs.status_code == 200
    assert "openapi.json" in docs.text
    assert "http://" not in docs.text
    assert "https://" not in docs.text  # nothing loaded from a CDN


async def test_me_and_admin_audit(harness: Any) -> None:
    alice = (await harness.tokens())["access_token"]
    bob = (await harness.tokens("bob", "bob-the-builder-42"))["access_token"]
    me = await harness.client.get("/auth/me", headers=_bearer(bob))
    assert me.json()["sub"] == "bob"
    audit = await harness.client.get("/auth/admin/audit?limit=3", headers=_bearer(alice))
    assert audit.status_code == 200
    events = audit.json()["events"]
    assert len(events) == 3
    assert events[0]["event"] == "login_success"
    assert events[0]["user"] == "bob"  # newest first
    denied = await harness.client.get("/auth/admin/audit", headers=_bearer(bob))
    assert denied.status_code == 403
    assert denied.json()["error"] == "insufficient_role"
    for bad in ("0", "501", "x", "1&limit=2", "-1"):
        r = await harness.client.get(f"/auth/admin/audit?limit={bad}", headers=_bearer(alice))
        assert r.status_code == 400, bad
    assert (await harness.client.get("/auth/admin/audit")).status_code == 401


async def test_confidential_client_refresh_needs_its_credentials(make_harness: Any) -> None:
    """RFC 6749 section 6: a refresh token issued to a confidential client is bound to it."""
    h = await make_harness(password_grant=True)
    secret = await h.admin.add_client("mobile", scopes=["api"])
    form = {"grant_type": "password", "username": "alice", "password": "correct-horse-battery"}
    r = await h.client.post("/auth/token", data=form, headers=_basic("mobile", secret))
    assert r.status_code == 200
    body = r.json()
    assert decode_unverified(body["access_token"])[1]["client_id"] == "mobile"
    ok = await h.client.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=_basic("mobile", secret),
    )
    assert ok.status_code == 200
    stolen = await h.refresh(ok.json()["refresh_token"])  # presented without the client
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert h.revoked(ok.json()["access_token"])  # the family is gone
