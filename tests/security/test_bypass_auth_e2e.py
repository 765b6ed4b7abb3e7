"""Auth-server spellings against a running ``jwtgate demo`` process (all already refused).

Parameter names in percent-encoded spellings, non-JSON login bodies (login
CSRF), cookie-borne requests without or with an empty ``X-CSRF-Token``, and
login throttling across letter-case variants of one account.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_REFRESH = "grant_type=refresh_token"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, demo_process: Any) -> Iterator[str]:
    """The base URL of a demo process of this module's own."""
    with demo_process(tmp_path_factory.mktemp("demo")) as (_, url):
        yield url


# (vector id / source, raw form body for /auth/token)
FORM_VECTORS: list[tuple[str, str]] = [
    ("RFC6749-3.2 refresh%5Ftoken repeats refresh_token", "grant_type=refresh_token"
     "&refresh_token=a&refresh%5Ftoken=b"),
    ("RFC6749-3.2 grant%5ftype repeats grant_type", "grant_type=refresh_token"
     "&grant%5ftype=client_credentials"),
    ("RFC6749-3.2 g%72ant_type repeats grant_type", "grant_type=refresh_token"
     "&g%72ant_type=client_credentials"),
    ("RFC6749-3.2 plain repetition", "grant_type=refresh_token&grant_type=refresh_token"),
]  # fmt: skip


@pytest.mark.parametrize(("vector", "body"), FORM_VECTORS, ids=[v[0] for v in FORM_VECTORS])
def test_parameter_spellings_are_repetitions(base: str, vector: str, body: str) -> None:
    response = httpx.post(f"{base}/auth/token", content=body, headers=_FORM)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "repeated" in response.json()["error_description"]


# (vector id / source, Content-Type a cross-site form could send)
LOGIN_CSRF_TYPES: list[tuple[str, str]] = [
    ("Fetch-4.6 CORS-safelisted text/plain", "text/plain"),
    ("Fetch-4.6 CORS-safelisted form", "application/x-www-form-urlencoded"),
    ("Fetch-4.6 CORS-safelisted multipart", "multipart/form-data; boundary=x"),
    ("RFC8259-11 charset other than UTF-8", "application/json; charset=utf-16"),
]


@pytest.mark.parametrize(
    ("vector", "ctype"), LOGIN_CSRF_TYPES, ids=[v[0] for v in LOGIN_CSRF_TYPES]
)
def test_login_needs_a_json_body(base: str, vector: str, ctype: str) -> None:
    body = '{"username": "alice", "password": "alice-in-wonderland"}'
    response = httpx.post(f"{base}/auth/login", content=body, headers={"Content-Type": ctype})
    assert response.status_code == 415
    assert "set-cookie" not in response.headers


@pytest.fixture(scope="module")
def cookies(base: str) -> httpx.Cookies:
    """alice's session cookies (refresh, access and CSRF cookie)."""
    response = httpx.post(
        f"{base}/auth/login",
        json={
            "username": "alice",
            "password": "alice-in-wonderland",
            "cookie": True,
            "access_cookie": True,
        },
    )
    assert response.status_code == 200
    return response.cookies


# (vector id / source, method, path, form body or None, X-CSRF-Token or None = absent)
COOKIE_VECTORS: list[tuple[str, str, str, str | None, str | None]] = [
    ("CWE-352 refresh from cookie, no header", "POST", "/auth/token", _REFRESH, None),
    ("CWE-352 refresh from cookie, empty header", "POST", "/auth/token", _REFRESH, ""),
    ("CWE-352 refresh from cookie, wrong header", "POST", "/auth/token", _REFRESH, "x"),
    ("CWE-352 logout by cookie, no header", "POST", "/auth/logout", None, None),
    ("CWE-352 logout by cookie, empty header", "POST", "/auth/logout", None, ""),
    ("CWE-352 gateway POST by cookie, no header", "POST", "/api/echo/x", None, None),
    ("CWE-352 gateway POST by cookie, empty header", "POST", "/api/echo/x", None, ""),
    ("CWE-352 gateway DELETE by cookie, wrong header", "DELETE", "/api/echo/x", None, "x"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("vector", "method", "path", "form", "csrf"), COOKIE_VECTORS, ids=[v[0] for v in COOKIE_VECTORS]
)
def test_cookie_requests_need_the_csrf_header(
    base: str,
    cookies: httpx.Cookies,
    vector: str,
    method: str,
    path: str,
    form: str | None,
    csrf: str | None,
) -> None:
    headers = dict(_FORM) if form is not None else {}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    with httpx.Client(cookies=cookies) as client:
        response = client.request(method, f"{base}{path}", content=form, headers=headers)
        assert response.status_code == 403
        assert response.json()["error"] == "csrf_failed"
        # A safe method still works with the same cookie: the refusal was the CSRF check.
        assert client.get(f"{base}/api/echo/x").status_code == 200


def test_case_variants_share_the_account_throttle(base: str) -> None:
    """CWE-307: "BOB", "Bob", ... count against bob; the right password is then refused too."""
    for variant in ("BOB", "Bob", "bOB", "BoB", "boB"):
        response = httpx.post(f"{base}/auth/login", json={"username": variant, "password": "x"})
        assert response.status_code in (401, 429)
    response = httpx.post(
        f"{base}/auth/login", json={"username": "bob", "password": "bob-the-builder"}
    )
    assert response.status_code == 429
    assert response.json()["error"] == "too_many_attempts"
