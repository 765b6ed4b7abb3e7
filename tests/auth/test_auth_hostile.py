"""Hostile input never reaches the catch-all: every vector is a 4xx with an RFC 6749 body.

Vectors: RFC 6749 section 3.2 (repeated parameters), 5.2 (error codes), RFC 8259
section 8.1 (UTF-8) and 4 (duplicate names), OWASP input validation
(oversized bodies, wrong media types, wrong JSON types).
"""

from __future__ import annotations

from typing import Any

import pytest

from jwtgate.auth.errors import AuthError

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BIG = 16384 + 1

# (id, method, path, content type, body bytes, expected status, expected error)
VECTORS: list[tuple[str, str, str, str | None, bytes, int, str]] = [
    (
        "login-malformed-json",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "alice",',
        400,
        "invalid_request",
    ),
    ("login-json-array", "POST", "/auth/login", JSON, b'["alice", "pw"]', 400, "invalid_request"),
    ("login-json-string", "POST", "/auth/login", JSON, b'"alice"', 400, "invalid_request"),
    ("login-json-null", "POST", "/auth/login", JSON, b"null", 400, "invalid_request"),
    ("login-empty-body", "POST", "/auth/login", JSON, b"", 400, "invalid_request"),
    (
        "login-nan",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": NaN, "password": "x"}',
        400,
        "invalid_request",
    ),
    (
        "login-duplicate-member",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "bob", "username": "alice", "password": "correct-horse-battery"}',
        400,
        "invalid_request",
    ),
    (
        "login-invalid-utf8",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "\xff\xfe", "password": "x"}',
        400,
        "invalid_request",
    ),
    (
        "login-lone-surrogate",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "\\ud800", "password": "xxxxxxxxx"}',
        400,
        "invalid_request",
    ),
    (
        "login-nul-in-username",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "ali\\u0000ce", "password": "xxxxxxxxx"}',
        400,
        "invalid_request",
    ),
    (
        "login-missing-password",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "alice"}',
        400,
        "invalid_request",
    ),
    (
        "login-missing-username",
        "POST",
        "/auth/login",
        JSON,
        b'{"password": "x"}',
        400,
        "invalid_request",
    ),
    (
        "login-username-number",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": 1, "password": "x"}',
        400,
        "invalid_request",
    ),
    (
        "login-password-object",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "alice", "password": {"$ne": null}}',
        400,
        "invalid_request",
    ),
    (
        "login-password-list",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "alice", "password": ["a"]}',
        400,
        "invalid_request",
    ),
    (
        "login-cookie-not-bool",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "alice", "password": "x", "cookie": "yes"}',
        400,
        "invalid_request",
    ),
    (
        "login-scope-number",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "alice", "password": "x", "scope": 5}',
        400,
        "invalid_request",
    ),
    (
        "login-deep-nesting",
        "POST",
        "/auth/login",
        JSON,
        b"[" * 5000 + b"]" * 5000,
        400,
        "invalid_request",
    ),
    (
        "login-form-instead-of-json",
        "POST",
        "/auth/login",
        FORM,
        b"username=alice&password=x",
        415,
        "unsupported_media_type",
    ),
    (
        "login-no-content-type",
        "POST",
        "/auth/login",
        None,
        b'{"username": "a"}',
        415,
        "unsupported_media_type",
    ),
    ("login-text-plain", "POST", "/auth/login", "text/plain", b"{}", 415, "unsupported_media_type"),
    (
        "login-latin1-charset",
        "POST",
        "/auth/login",
        "application/json; charset=latin-1",
        b"{}",
        415,
        "unsupported_media_type",
    ),
    (
        "login-huge-body",
        "POST",
        "/auth/login",
        JSON,
        b'{"username": "' + b"a" * BIG + b'"}',
        413,
        "request_too_large",
    ),
    (
        "token-json-instead-of-form",
        "POST",
        "/auth/token",
        JSON,
        b'{"grant_type": "refresh_token"}',
        415,
        "unsupported_media_type",
    ),
    (
        "token-missing-grant",
        "POST",
        "/auth/token",
        FORM,
        b"refresh_token=abc",
        400,
        "invalid_request",
    ),
    ("token-empty-grant", "POST", "/auth/token", FORM, b"grant_type=", 400, "invalid_request"),
    (
        "token-unknown-grant",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=magic",
        400,
        "unsupported_grant_type",
    ),
    (
        "token-authorization-code",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=authorization_code&code=x",
        400,
        "unsupported_grant_type",
    ),
    (
        "token-implicit",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=implicit",
        400,
        "unsupported_grant_type",
    ),
    (
        "token-duplicate-grant",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=refresh_token&grant_type=client_credentials",
        400,
        "invalid_request",
    ),
    (
        "token-duplicate-refresh",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=refresh_token&refresh_token=a&refresh_token=b",
        400,
        "invalid_request",
    ),
    (
        "token-refresh-missing",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=refresh_token",
        400,
        "invalid_request",
    ),
    (
        "token-invalid-utf8-percent",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=refresh_token&refresh_token=%ff%fe",
        400,
        "invalid_request",
    ),
    (
        "token-raw-non-ascii",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=refresh_token&refresh_token=\xc3\xa9",
        400,
        "invalid_request",
    ),
    (
        "token-nul",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=refresh_token&refresh_token=%00",
        400,
        "invalid_request",
    ),
    (
        "token-huge-body",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=" + b"a" * BIG,
        413,
        "request_too_large",
    ),
    (
        "token-client-credentials-no-client",
        "POST",
        "/auth/token",
        FORM,
        b"grant_type=client_credentials",
        401,
        "invalid_client",
    ),
    (
        "revoke-missing-token",
        "POST",
        "/auth/revoke",
        FORM,
        b"token_type_hint=access_token",
        400,
        "invalid_request",
    ),
    (
        "revoke-duplicate-token",
        "POST",
        "/auth/revoke",
        FORM,
        b"token=a&token=b",
        400,
        "invalid_request",
    ),
    ("revoke-json", "POST", "/auth/revoke", JSON, b'{"token": "a"}', 415, "unsupported_media_type"),
    ("introspect-no-client", "POST", "/auth/introspect", FORM, b"token=a", 401, "invalid_client"),
    ("login-get", "GET", "/auth/login", None, b"", 405, "method_not_allowed"),
    (
        "token-get-with-query",
        "GET",
        "/auth/token?grant_type=refresh_token",
        None,
        b"",
        405,
        "method_not_allowed",
    ),
    ("unknown-path", "GET", "/auth/nope", None, b"", 404, "not_found"),
    ("me-no-token", "GET", "/auth/me", None, b"", 401, "invalid_token"),
    ("me-garbage-token", "GET", "/auth/me", None, b"", 401, "invalid_token"),
]


_EXTRA_HEADERS = {
    "me-garbage-token": {"Authorization": "Bearer e30.e30.e30"},
    "token-client-credentials-no-client": {"Authorization": "Bearer abc"},
}


@pytest.mark.parametrize(
    ("vid", "method", "path", "ctype", "body", "status", "error"),
    [pytest.param(*v, id=v[0]) for v in VECTORS],
)
async def test_hostile_input(
    sqlite_harness: Any,
    vid: str,
    method: str,
    path: str,
    ctype: str | None,
    body: bytes,
    status: int,
    error: str,
) -> None:
    headers = {} if ctype is None else {"Content-Type": ctype}
    headers.update(_EXTRA_HEADERS.get(vid, {}))
    r = await sqlite_harness.client.request(method, path, content=body, headers=headers)
    assert r.status_code == status, r.text
    data = r.json()
    assert data["error"] == error
    assert isinstance(data["error_description"], str)
    assert "Traceback" not in r.text
    assert sqlite_harness.server.errors.count == 0  # the catch-all was never reached


# Vectors whose values get past parsing towards the database: run them on the
# real PostgreSQL too (it rejects NUL and lone surrogates that SQLite stores).
_STORAGE_VECTORS = {
    "login-lone-surrogate",
    "login-nul-in-username",
    "login-invalid-utf8",
    "login-duplicate-member",
    "token-invalid-utf8-percent",
    "token-nul",
    "token-raw-non-ascii",
    "revoke-duplicate-token",
}


@pytest.mark.postgres
async def test_hostile_input_postgres(make_harness: Any, pg_database: str) -> None:
    h = await make_harness(pg_database)
    for vid, method, path, ctype, body, status, error in VECTORS:
        if vid not in _STORAGE_VECTORS:
            continue
        headers = {} if ctype is None else {"Content-Type": ctype}
        r = await h.client.request(method, path, content=body, headers=headers)
        assert (r.status_code, r.json()["error"]) == (status, error), vid
    # Values that pass parsing but are hostile to the database engine.
    for username in ("ali\\u0000ce", "\\udfff", "x" * 300, "a'; DROP TABLE users; --"):
        r = await h.client.post(
            "/auth/login",
            content=f'{{"username": "{username}", "password": "xxxxxxxxx"}}',
            headers={"Content-Type": JSON},
        )
        assert r.status_code in (400, 401), username
    for form, status in (
        ({"token": "x" * 600}, 200),
        ({"token": "a\u00e9"}, 200),
        ({"token": "a\x00"}, 400),
    ):
        r = await h.client.post("/auth/revoke", data=form)
        assert r.status_code == status
    assert h.server.errors.count == 0
    assert [u.username for u in await h.admin.list_users()] == ["alice", "bob"]


async def test_declared_length_over_cap_is_refused_before_reading(sqlite_harness: Any) -> None:
    r = await sqlite_harness.client.post(
        "/auth/login",
        content=b"{}",
        headers={"Content-Type": JSON, "Content-Length": "999999999"},
    )
    assert r.status_code == 413


async def test_failed_request_writes_nothing(harness: Any) -> None:
    """A rejected login (bad input) leaves no family, token or revocation row behind."""
    before = await harness.server.core.users.list_users()
    await harness.client.post(
        "/auth/login",
        content=b'{"username": "alice", "password": 1}',
        headers={"Content-Type": JSON},
    )
    async with harness.server.core.engine.connect() as conn:
        from sqlalchemy import func, select

        from jwtgate.auth.schema import refresh_families, revocations

        families = (await conn.execute(select(func.count()).select_from(refresh_families))).scalar()
        revoked = (await conn.execute(select(func.count()).select_from(revocations))).scalar()
    assert families == 0
    assert revoked == 0
    assert await harness.server.core.users.list_users() == before


async def test_catch_all_returns_bare_server_error(sqlite_harness: Any, monkeypatch: Any) -> None:
    """The guard itself: an unexpected exception is a detail-free 500 that is counted."""

    async def boom(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(sqlite_harness.server.service, "login", boom)
    r = await sqlite_harness.login()
    assert r.status_code == 500
    assert r.json() == {"error": "server_error", "error_description": "internal error"}
    assert "secret internal detail" not in r.text
    assert sqlite_harness.server.errors.count == 1


def test_every_auth_error_has_a_stable_code() -> None:
    def walk(cls: type[AuthError]) -> list[type[AuthError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in walk(sub))]

    for cls in walk(AuthError):
        assert cls.code.replace("_", "").isalpha()
        assert 400 <= cls.status < 500


def test_hot_endpoints_are_dispatched_directly(sqlite_harness: Any) -> None:
    """/token and /login skip FastAPI routing (the guard holds their handlers)."""
    guard = next(m for m in sqlite_harness.server.app.user_middleware if "fast" in m.kwargs)
    assert set(guard.kwargs["fast"]) == {"/auth/token", "/auth/login"}
