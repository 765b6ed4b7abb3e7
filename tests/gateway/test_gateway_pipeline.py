"""The whole request path over real HTTP on loopback (gateway in-process, real upstream)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict
from yarl import URL

from jwtgate.csrf import csrf_claim_for, new_csrf_token

pytestmark = pytest.mark.timeout(60)


def _hdr(record: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in record["headers"] if k == name.lower()]


def _route(upstream: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "api", "match": {"prefix": "/api"}, "upstream": upstream}
    base.update(kw)
    return base


async def _get(
    http: aiohttp.ClientSession, url: str, token: str | None = None, **kw: Any
) -> tuple[int, CIMultiDict[str], Any]:
    headers = dict(kw.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    method = kw.pop("method", "GET")
    async with http.request(method, url, headers=headers, **kw) as resp:
        body = await resp.read()
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = body
        return resp.status, CIMultiDict(resp.headers), parsed


async def test_valid_token_forwards_identity_not_the_token(
    upstream: Any, gw_config: Callable[..., Any], gateway: Any, http: Any, mint: Any
) -> None:
    token = mint("alice", roles=["admin", "user"], scope="read write")
    async with gateway(gw_config([_route(upstream.url)])) as base:
        status, headers, body = await _get(http, f"{base}/api/x?q=1", token)
    assert status == 200
    assert body["path"] == "/api/x?q=1"
    assert _hdr(body, "x-user-id") == ["alice"]
    assert _hdr(body, "x-user-roles") == ["admin,user"]
    assert _hdr(body, "x-user-scopes") == ["read,write"]
    assert len(_hdr(body, "x-token-id")) == 1
    assert _hdr(body, "authorization") == []  # forward_token: false by default
    assert _hdr(body, "x-forwarded-for") == ["127.0.0.1"]
    assert _hdr(body, "x-forwarded-proto") == ["http"]
    assert len(_hdr(body, "x-request-id")[0]) >= 16
    assert headers["X-Up"] == "up"


# Spoofing vectors: identity headers a client must never be able to inject
# (Envoy jwt_authn sanitises before adding claim headers; OWASP API2:2023).
SPOOFED = [
    ("X-User-Id", "mallory"),
    ("X-uSeR-RoLeS", "admin"),
    ("x-user-scopes", "admin"),
    ("X-Auth-Foo", "1"),
    ("X-Auth-Request-User", "root"),
    ("X-Token-Id", "forged"),
    ("X-Tenant", "other"),
    ("Forwarded", "for=1.2.3.4"),
    ("X-Real-IP", "1.2.3.4"),
]


@pytest.mark.parametrize(("name", "value"), SPOOFED)
@pytest.mark.parametrize("auth", ["required", "public"])
async def test_spoofed_identity_headers_are_stripped(
    upstream: Any,
    gw_config: Any,
    gateway: Any,
    http: Any,
    mint: Any,
    name: str,
    value: str,
    auth: str,
) -> None:
    config = gw_config([_route(upstream.url, auth=auth)], strip_headers=["X-Tenant"])
    token = mint("alice") if auth == "required" else None
    async with gateway(config) as base:
        status, _, body = await _get(http, f"{base}/api/x", token, headers={name: value})
    assert status == 200
    assert value not in [v for _, v in body["headers"]]


async def test_forwarded_for_from_untrusted_client_is_replaced(
    upstream: Any, gw_config: Any, gateway: Any, http: Any
) -> None:
    spoof = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "e"}
    async with gateway(gw_config([_route(upstream.url, auth="public")])) as base:
        _, _, body = await _get(http, f"{base}/api/x", headers=spoof)
    assert _hdr(body, "x-forwarded-for") == ["127.0.0.1"]
    assert _hdr(body, "x-forwarded-proto") == ["http"]
    assert _hdr(body, "x-forwarded-host") != ["e"]


async def test_forwarded_for_from_trusted_proxy_is_extended(
    upstream: Any, gw_config: Any, gateway: Any, http: Any
) -> None:
    config = gw_config([_route(upstream.url, auth="public")], trusted_proxies=["127.0.0.0/8"])
    proxied = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Request-Id": "r-1"}
    async with gateway(config) as base:
        _, _, body = await _get(http, f"{base}/api/x", headers=proxied)
    assert _hdr(body, "x-forwarded-for") == ["6.6.6.6, 127.0.0.1"]
    assert _hdr(body, "x-forwarded-proto") == ["https"]
    assert _hdr(body, "x-request-id") == ["r-1"]


async def test_missing_token_is_401_without_error_attribute(
    upstream: Any, gw_config: Any, gateway: Any, http: Any
) -> None:
    async with gateway(gw_config([_route(upstream.url)])) as base:
        status, headers, body = await _get(http, f"{base}/api/x")
    assert status == 401
    # RFC 6750 section 3.1: no error code when the request had no credentials.
    assert headers["WWW-Authenticate"] == 'Bearer realm="jwtgate"'
    assert body["error"] == "missing_token"
    assert upstream.seen == []


def _tamper(token: str) -> str:
    head, payload, sig = token.split(".")
    return f"{head}.{payload}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"


@pytest.mark.parametrize(
    ("vector", "code_hint"),
    [
        ("tampered-signature", "signature"),  # RFC 7515 section 5.2
        ("garbage", "segments"),  # RFC 7519 section 7.2
        ("expired", "expired"),  # RFC 7519 section 4.1.4
    ],
)
async def test_invalid_token_is_401_invalid_token(
    upstream: Any,
    gw_config: Any,
    gateway: Any,
    http: Any,
    mint: Any,
    vector: str,
    code_hint: str,
) -> None:
    if vector == "tampered-signature":
        token = _tamper(mint("alice"))
    elif vector == "garbage":
        token = "only-one-segment"
    else:
        token = mint("alice", ttl=60, now=time.time() - 3600)
    async with gateway(gw_config([_route(upstream.url)])) as base:
        status, headers, body = await _get(http, f"{base}/api/x", token)
    assert status == 401
    challenge = headers["WWW-Authenticate"]
    assert challenge.startswith(
        'Bearer realm="jwtgate", error="invalid_token", error_description="'
    )
    assert body["error"] == "invalid_token"
    assert code_hint in body["error_description"]
    assert token not in json.dumps(body)
    assert token not in challenge
    assert upstream.seen == []


@pytest.mark.parametrize(
    ("require", "roles", "scope", "allowed"),
    [
        ({"roles": {"any_of": ["admin", "ops"]}}, ["ops"], "", True),
        ({"roles": {"any_of": ["admin", "ops"]}}, ["user"], "", False),
        ({"roles": {"all_of": ["admin", "ops"]}}, ["admin", "ops", "x"], "", True),
        ({"roles": {"all_of": ["admin", "ops"]}}, ["admin"], "", False),
        ({"scopes": {"any_of": ["read", "write"]}}, [], "write", True),
        ({"scopes": {"all_of": ["read", "write"]}}, [], "read", False),
        ({"claims": {"tenant": "acme"}}, [], "", True),
        ({"claims": {"tenant": "other"}}, [], "", False),
        ({"claims": {"verified": True}}, [], "", False),  # 1 must not equal true
    ],
)
async def test_role_scope_and_claim_rules(
    upstream: Any,
    gw_config: Any,
    gateway: Any,
    http: Any,
    mint: Any,
    require: dict[str, Any],
    roles: list[str],
    scope: str,
    allowed: bool,
) -> None:
    token = mint("alice", roles=roles, scope=scope, extra={"tenant": "acme", "verified": 1})
    async with gateway(gw_config([_route(upstream.url, require=require)])) as base:
        status, headers, body = await _get(http, f"{base}/api/x", token)
    if allowed:
        assert status == 200
        return
    assert status == 403
    assert body["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]


async def test_insufficient_scope_names_needed_scope(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    route = _route(upstream.url, require={"scopes": {"all_of": ["orders:read", "orders:write"]}})
    async with gateway(gw_config([route])) as base:
        status, headers, _ = await _get(http, f"{base}/api/x", mint("a", scope="orders:read"))
    assert status == 403
    # RFC 6750 section 3: scope attribute lists the scopes needed.
    assert headers["WWW-Authenticate"].endswith('scope="orders:read orders:write"')


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({"Authorization": "Basic YTpi"}, 401, "missing_token"),  # another scheme: no token
        ({"Authorization": "Bearer"}, 400, "invalid_request"),
        ({"Authorization": "Bearer a b"}, 400, "invalid_request"),  # RFC 6750 2.1
        ({"Authorization": "Bearer a,b"}, 400, "invalid_request"),
    ],
)
async def test_malformed_credentials(
    upstream: Any,
    gw_config: Any,
    gateway: Any,
    http: Any,
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    async with gateway(gw_config([_route(upstream.url)])) as base:
        got, resp_headers, body = await _get(http, f"{base}/api/x", headers=headers)
    assert (got, body["error"]) == (status, error)
    if status == 400:
        assert 'error="invalid_request"' in resp_headers["WWW-Authenticate"]


async def test_scheme_is_case_insensitive_and_two_headers_refused(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    token = mint("alice")
    async with gateway(gw_config([_route(upstream.url)])) as base:
        ok, _, _ = await _get(http, f"{base}/api/x", headers={"Authorization": f"bEaReR {token}"})
        two = CIMultiDict(
            [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
        )
        async with http.get(f"{base}/api/x", headers=two) as resp:
            dup = resp.status
    assert ok == 200
    assert dup == 400


async def test_query_token_ignored_unless_enabled(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    token = mint("alice")
    routes = [
        _route(upstream.url),
        _route(
            upstream.url,
            name="q",
            match={"prefix": "/q"},
            token_sources={"query_param": "access_token"},
        ),
    ]
    async with gateway(gw_config(routes)) as base:
        ignored, _, _ = await _get(http, f"{base}/api/x?access_token={token}")
        status, _, body = await _get(http, f"{base}/q/x?a=1&access_token={token}&b=2")
    assert ignored == 401  # RFC 6750 section 2.3 is opt-in only
    assert status == 200
    assert body["path"] == "/q/x?a=1&b=2"  # removed before forwarding
    assert _hdr(body, "x-user-id") == ["alice"]


async def test_cookie_source_with_csrf(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    csrf = new_csrf_token()
    token = mint("alice", extra={"csrf": csrf_claim_for(csrf)})
    route = _route(upstream.url, token_sources={"cookie": True})
    cookie = {"Cookie": f"theme=dark; __Host-jwtgate-access={token}"}
    async with gateway(gw_config([route])) as base:
        get_status, _, get_body = await _get(http, f"{base}/api/x", headers=cookie)
        no_csrf, _, no_csrf_body = await _get(http, f"{base}/api/x", method="POST", headers=cookie)
        bad, _, _ = await _get(
            http, f"{base}/api/x", method="POST", headers={**cookie, "X-CSRF-Token": "nope"}
        )
        good, _, _ = await _get(
            http, f"{base}/api/x", method="POST", headers={**cookie, "X-CSRF-Token": csrf}
        )
    assert get_status == 200
    assert _hdr(get_body, "cookie") == ["theme=dark"]  # the access cookie is not forwarded
    assert (no_csrf, no_csrf_body["error"]) == (403, "csrf_failed")
    assert bad == 403
    assert good == 200


async def test_not_found_and_method_not_allowed(
    upstream: Any, gw_config: Any, gateway: Any, http: Any
) -> None:
    route = _route(upstream.url, auth="public", match={"prefix": "/api", "methods": ["GET"]})
    async with gateway(gw_config([route])) as base:
        missing, _, body404 = await _get(http, f"{base}/nope")
        prefix_only, _, _ = await _get(http, f"{base}/apix")
        status, headers, body = await _get(http, f"{base}/api/x", method="DELETE")
    assert (missing, body404["error"]) == (404, "not_found")
    assert prefix_only == 404  # prefix matches whole segments only
    assert (status, body["error"], headers["Allow"]) == (405, "method_not_allowed", "GET")


@pytest.mark.parametrize("path", ["/api/../admin", "/api/./x", "/api/%2e%2e/admin"])
async def test_dot_segments_refused(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, path: str
) -> None:
    # Path confusion (RFC 3986 section 5.2.4; CVE-2021-41773 class).
    config = gw_config([_route(upstream.url, auth="public")])
    async with gateway(config) as base, http.get(URL(base + path, encoded=True)) as resp:
        status = resp.status
    assert status == 400
    assert upstream.seen == []


async def test_body_limits(upstream: Any, gw_config: Any, gateway: Any, http: Any) -> None:
    route = _route(upstream.url, auth="public", max_body_bytes=1000)

    async def chunks() -> Any:
        for _ in range(5):
            yield b"x" * 500

    async with gateway(gw_config([route])) as base:
        declared, _, body = await _get(http, f"{base}/api/x", method="POST", data=b"x" * 1001)
        streamed, _, _ = await _get(http, f"{base}/api/x", method="POST", data=chunks())
        fits, _, echoed = await _get(http, f"{base}/api/x", method="POST", data=b"y" * 1000)
    assert (declared, body["error"]) == (413, "body_too_large")
    assert streamed == 413
    assert (fits, echoed["body_len"]) == (200, 1000)


async def test_large_streamed_body_reaches_upstream_intact(
    upstream: Any, gw_config: Any, gateway: Any, http: Any
) -> None:
    import hashlib

    payload = bytes(range(256)) * 8192  # 2 MiB

    async def chunks() -> Any:
        for i in range(0, len(payload), 65536):
            yield payload[i : i + 65536]

    async with gateway(gw_config([_route(upstream.url, auth="public")])) as base:
        status, _, body = await _get(http, f"{base}/api/x", method="PUT", data=chunks())
    assert status == 200
    assert body["body_sha"] == hashlib.sha256(payload).hexdigest()


async def test_headers_too_large(upstream: Any, gw_config: Any, gateway: Any, http: Any) -> None:
    config = gw_config([_route(upstream.url, auth="public")], max_header_bytes=2048)
    async with gateway(config) as base:
        status, _, body = await _get(http, f"{base}/api/x", headers={"X-Big": "a" * 3000})
    assert (status, body["error"]) == (431, "headers_too_large")


async def test_upstream_down_is_502_and_slow_is_504(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, unused_port: int
) -> None:
    routes = [
        _route("http://127.0.0.1:1", auth="public"),  # nothing listens on port 1
        _route(
            upstream.url,
            name="slow",
            match={"prefix": "/slow"},
            auth="public",
            timeouts={"connect": 1, "read": 0.3},
        ),
    ]
    async with gateway(gw_config(routes)) as base:
        down, _, down_body = await _get(http, f"{base}/api/x")
        slow, _, slow_body = await _get(http, f"{base}/slow?s=2")
    assert (down, down_body["error"]) == (502, "bad_gateway")
    assert (slow, slow_body["error"]) == (504, "upstream_timeout")
    assert "127.0.0.1" not in json.dumps(down_body)  # nothing internal leaks


async def test_round_robin(
    upstream: Any, second_upstream: Any, gw_config: Any, gateway: Any, http: Any
) -> None:
    route = _route([upstream.url, second_upstream.url], auth="public")
    async with gateway(gw_config([route])) as base:
        names = [(await _get(http, f"{base}/api/x"))[1]["X-Up"] for _ in range(4)]
    assert names == ["up", "second", "up", "second"]
