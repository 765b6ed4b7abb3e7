"""Browser cookie mode: flags, CSRF double submit, access cookie bound by the csrf claim."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import pytest

from jwtgate.csrf import csrf_claim_for
from jwtgate.jose import decode_unverified


def _set_cookies(response: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            flags = {k.lower() for k in morsel if morsel[k]}
            out[name] = {
                "value": morsel.value,
                "flags": flags,
                "samesite": morsel["samesite"],
                "path": morsel["path"],
                "raw": header,
            }
    return out


async def test_cookie_login_sets_host_prefixed_strict_cookies(sqlite_harness: Any) -> None:
    r = await sqlite_harness.login(cookie=True)
    assert r.status_code == 200
    body = r.json()
    assert "refresh_token" not in body  # only in the HttpOnly cookie
    assert "access_token" in body  # memory-only access token
    cookies = _set_cookies(r)
    refresh, csrf = cookies["__Host-jwtgate-refresh"], cookies["__Host-jwtgate-csrf"]
    assert {"httponly", "secure"} <= refresh["flags"]
    assert refresh["samesite"].lower() == "strict"
    assert refresh["path"] == "/"
    assert "domain" not in refresh["raw"].lower()  # host-only (RFC 6265bis 4.1.3.2)
    assert "httponly" not in csrf["flags"]  # the page must read it
    assert "secure" in csrf["flags"]
    assert csrf["value"] == body["csrf_token"]
    claims = decode_unverified(body["access_token"])[1]
    assert claims["csrf"] == csrf_claim_for(body["csrf_token"])


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 403), ("wrong-csrf-token", 403), ("", 403), ("match", 200)],
    ids=["missing", "wrong", "empty", "matching"],
)
async def test_cookie_refresh_requires_double_submit(
    sqlite_harness: Any, header: str | None, status: int
) -> None:
    login = await sqlite_harness.login(cookie=True)
    csrf = login.json()["csrf_token"]
    headers = {}
    if header is not None:
        headers["X-CSRF-Token"] = csrf if header == "match" else header
    r = await sqlite_harness.client.post(
        "/auth/token", data={"grant_type": "refresh_token"}, headers=headers
    )
    assert r.status_code == status
    if status == 403:
        assert r.json()["error"] == "csrf_failed"
    else:
        new = _set_cookies(r)
        assert new["__Host-jwtgate-refresh"]["value"] != login.cookies["__Host-jwtgate-refresh"]
        assert new["__Host-jwtgate-csrf"]["value"] == r.json()["csrf_token"]


async def test_access_cookie_mode_and_cookie_logout(harness: Any) -> None:
    login = await harness.login(cookie=True, access_cookie=True)
    body = login.json()
    assert "access_token" not in body
    cookies = _set_cookies(login)
    access = cookies["__Host-jwtgate-access"]
    assert {"httponly", "secure"} <= access["flags"]
    claims = decode_unverified(access["value"])[1]
    assert claims["csrf"] == csrf_claim_for(body["csrf_token"])
    me = await harness.client.get("/auth/me")  # safe method: the cookie alone suffices
    assert me.status_code == 200
    assert me.json()["sub"] == "alice"
    refused = await harness.client.post("/auth/logout")  # unsafe: CSRF header required
    assert refused.status_code == 403
    out = await harness.client.post("/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 200
    cleared = _set_cookies(out)
    assert set(cleared) == {
        "__Host-jwtgate-access",
        "__Host-jwtgate-refresh",
        "__Host-jwtgate-csrf",
    }
    assert all(c["value"] == "" for c in cleared.values())
    assert harness.revoked(access["value"])


async def test_refresh_cookie_logout_after_access_expiry(harness: Any) -> None:
    login = await harness.login(cookie=True)
    csrf = login.json()["csrf_token"]
    refresh = login.cookies["__Host-jwtgate-refresh"]
    r = await harness.client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    harness.client.cookies.set("__Host-jwtgate-refresh", refresh)
    harness.client.cookies.set("__Host-jwtgate-csrf", csrf)
    again = await harness.client.post(
        "/auth/token", data={"grant_type": "refresh_token"}, headers={"X-CSRF-Token": csrf}
    )
    assert again.status_code == 400


async def test_insecure_demo_mode_drops_the_host_prefix(make_harness: Any) -> None:
    h = await make_harness(cookies={"secure": False, "default": True})
    r = await h.login()
    cookies = _set_cookies(r)
    assert set(cookies) == {"jwtgate-refresh", "jwtgate-csrf"}
    assert "secure" not in cookies["jwtgate-refresh"]["flags"]
    assert "httponly" in cookies["jwtgate-refresh"]["flags"]
    opted_out = await h.login(cookie=False)
    assert "refresh_token" in opted_out.json()


async def test_expired_access_cookie_still_logs_out(harness: Any) -> None:
    login = await harness.login(cookie=True, access_cookie=True)
    csrf = login.json()["csrf_token"]
    refresh = login.cookies["__Host-jwtgate-refresh"]
    harness.clock.advance(harness.config.tokens.access_ttl + 120)  # access cookie expired
    r = await harness.client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    family = await harness.server.core.refresh.lookup(refresh, harness.clock())
    assert family is None  # the refresh family was revoked
