"""Route policies end to end: internal upstreams, rate limits, dry run, CORS, revocation, keys."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from jwtgate.errors import ConfigError
from jwtgate.gateway.compile import compile_gateway
from jwtgate.jose import AccessTokenMinter, Keyring
from jwtgate.revocation import RevocationEvent, RevocationKind

pytestmark = pytest.mark.timeout(60)


def _hdr(record: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in record["headers"] if k == name.lower()]


async def _get(
    http: aiohttp.ClientSession, url: str, token: str | None = None, **kw: Any
) -> tuple[int, CIMultiDict[str], Any]:
    headers = dict(kw.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(kw.pop("method", "GET"), url, headers=headers, **kw) as resp:
        raw = await resp.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        return resp.status, CIMultiDict(resp.headers), body


async def test_internal_upstream_gets_adjusted_scope(
    component: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    route = {
        "name": "probe",
        "match": {"prefix": "/svc"},
        "upstream": "internal://probe",
        "strip_prefix": True,
        "token_sources": {"query_param": "t"},
    }
    token = mint("bob", roles=["user"])
    async with gateway(gw_config([route]), components={"probe": component}) as base:
        status, _, body = await _get(
            http, f"{base}/svc/a%20b?x=1&t={token}", headers={"X-User-Id": "mallory"}
        )
    assert component.started
    assert component.closed
    assert status == 200
    assert body["path"] == "/a b"
    assert body["raw_path"] == "/a%20b"
    assert body["query"] == "x=1"  # the token parameter is removed
    assert body["client"][0] == "127.0.0.1"
    assert _hdr(body, "x-user-id") == ["bob"]
    assert _hdr(body, "host")[0].startswith("127.0.0.1:")


async def test_stats_and_health_endpoints(
    component: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    routes = [
        {"name": "stats", "match": {"path": "/stats"}, "upstream": "internal://stats"},
        {"name": "probe", "match": {"prefix": "/"}, "upstream": "internal://probe"},
    ]
    token = mint("alice")
    async with gateway(gw_config(routes), components={"probe": component}) as base:
        await _get(http, f"{base}/x")  # denied: missing_token
        await _get(http, f"{base}/x", token)
        health, _, hbody = await _get(http, f"{base}/healthz")
        ready, _, rbody = await _get(http, f"{base}/readyz")
        status, _, stats = await _get(http, f"{base}/stats", token)
    assert (health, hbody["status"]) == (200, "ok")
    assert (ready, rbody["status"]) == (200, "ready")
    assert status == 200
    assert stats["requests"] == 2
    assert stats["denied"] == {"missing_token": 1}
    assert stats["allowed"] == 1
    assert stats["cache"]["misses"] >= 1


async def test_rate_limit_by_subject(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    route = {
        "name": "api",
        "match": {"prefix": "/api"},
        "upstream": upstream.url,
        "rate_limit": {"key": "subject", "rate": 0.01, "burst": 2},
    }
    alice, bob = mint("alice"), mint("bob")
    async with gateway(gw_config([route])) as base:
        first = [(await _get(http, f"{base}/api/x", alice))[0] for _ in range(3)]
        status, headers, body = await _get(http, f"{base}/api/x", alice)
        other, _, _ = await _get(http, f"{base}/api/x", bob)
    assert first == [200, 200, 429]
    assert (status, body["error"]) == (429, "rate_limited")
    assert int(headers["Retry-After"]) >= 1  # RFC 9110 section 10.2.3
    assert other == 200


async def test_rate_limit_by_claim_and_ip(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    routes = [
        {
            "name": "api",
            "match": {"prefix": "/api"},
            "upstream": upstream.url,
            "rate_limit": {"key": "claim:tenant", "rate": 0.01, "burst": 1},
        },
        {
            "name": "pub",
            "match": {"prefix": "/pub"},
            "upstream": upstream.url,
            "auth": "public",
            "rate_limit": {"key": "ip", "rate": 0.01, "burst": 1},
        },
    ]
    a1, a2 = mint("a1", extra={"tenant": "acme"}), mint("a2", extra={"tenant": "acme"})
    other = mint("z", extra={"tenant": "zeta"})
    async with gateway(gw_config(routes)) as base:
        tenant = [(await _get(http, f"{base}/api/x", t))[0] for t in (a1, a2, other)]
        by_ip = [(await _get(http, f"{base}/pub/x"))[0] for _ in range(2)]
    assert tenant == [200, 429, 200]  # a1 and a2 share the acme bucket
    assert by_ip == [200, 429]


async def test_dry_run_lets_denied_requests_through_without_identity(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    route = {
        "name": "api",
        "match": {"prefix": "/api"},
        "upstream": upstream.url,
        "require": {"roles": {"any_of": ["admin"]}},
        "dry_run": True,
    }
    async with gateway(gw_config([route])) as base:
        missing, _, missing_body = await _get(http, f"{base}/api/x", headers={"X-User-Id": "m"})
        weak, _, weak_body = await _get(http, f"{base}/api/x", mint("bob", roles=["user"]))
        ok, _, ok_body = await _get(http, f"{base}/api/x", mint("root", roles=["admin"]))
    assert (missing, weak, ok) == (200, 200, 200)
    assert _hdr(missing_body, "x-user-id") == []
    assert _hdr(weak_body, "x-user-id") == []
    assert _hdr(ok_body, "x-user-id") == ["root"]


async def test_optional_route(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    route = {"name": "api", "match": {"prefix": "/api"}, "upstream": upstream.url}
    route["auth"] = "optional"
    async with gateway(gw_config([route])) as base:
        anon, _, anon_body = await _get(http, f"{base}/api/x")
        bad, _, _ = await _get(http, f"{base}/api/x", "a.b.c")
        good, _, good_body = await _get(http, f"{base}/api/x", mint("alice"))
    assert (anon, bad, good) == (200, 401, 200)  # a presented bad token is never ignored
    assert _hdr(anon_body, "x-user-id") == []
    assert _hdr(good_body, "x-user-id") == ["alice"]


@pytest.mark.parametrize(
    ("claims", "forward", "expected"),
    [
        (
            {"tenant": {"id": 7, "name": "acme"}},
            {"tenant": "X-User-Tenant"},
            '{"id":7,"name":"acme"}',
        ),
        ({"groups": ["a", ["b"]]}, {"groups": "X-User-Groups"}, '["a",["b"]]'),
        ({"name": "Jos\u00e9"}, {"name": "X-User-Name"}, "Jos\u00e9"),
        ({"level": 3}, {"level": "X-User-Level"}, "3"),
        ({"staff": True}, {"staff": "X-User-Staff"}, "true"),
    ],
)
async def test_claim_forwarding_shapes(
    upstream: Any,
    gw_config: Any,
    gateway: Any,
    http: Any,
    mint: Any,
    claims: dict[str, Any],
    forward: dict[str, str],
    expected: str,
) -> None:
    route = {"name": "api", "match": {"prefix": "/api"}, "upstream": upstream.url}
    route["forward"] = forward
    async with gateway(gw_config([route])) as base:
        status, _, body = await _get(http, f"{base}/api/x", mint("alice", extra=claims))
    assert status == 200
    header = next(iter(forward.values()))
    assert _hdr(body, header) == [expected]  # UTF-8 bytes on the wire (obs-text, RFC 9110 5.5)


@pytest.mark.parametrize(
    ("claims", "forward"),
    [
        ({"nick": "a\r\nX-User-Id: root"}, {"nick": "X-User-Nick"}),  # CWE-113 header splitting
        ({"nick": "a\x00b"}, {"nick": "X-User-Nick"}),
        ({"groups": ["admin,user"]}, {"groups": "X-User-Groups"}),  # one element read as two
    ],
)
async def test_unsafe_claims_are_refused(
    upstream: Any,
    gw_config: Any,
    gateway: Any,
    http: Any,
    mint: Any,
    claims: dict[str, Any],
    forward: dict[str, str],
) -> None:
    route = {"name": "api", "match": {"prefix": "/api"}, "upstream": upstream.url}
    route["forward"] = forward
    async with gateway(gw_config([route])) as base:
        status, _, body = await _get(http, f"{base}/api/x", mint("alice", extra=claims))
    assert (status, body["error"]) == (401, "invalid_token")
    assert upstream.seen == []


async def test_cors_preflight_and_response(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    route = {
        "name": "api",
        "match": {"prefix": "/api"},
        "upstream": upstream.url,
        "cors": {"allow_origins": ["https://app.example"], "allow_credentials": True},
    }
    route["match"] = {"prefix": "/api", "methods": ["GET", "POST"]}
    origin = {"Origin": "https://app.example"}
    async with gateway(gw_config([route])) as base:
        pre, pre_h, _ = await _get(
            http,
            f"{base}/api/x",
            method="OPTIONS",
            headers={**origin, "Access-Control-Request-Method": "POST"},
        )
        plain_options, _, _ = await _get(http, f"{base}/api/x", method="OPTIONS", headers=origin)
        status, headers, _ = await _get(http, f"{base}/api/x", mint("a"), headers=origin)
        _, evil_h, _ = await _get(
            http, f"{base}/api/x", mint("a"), headers={"Origin": "https://evil.example"}
        )
    assert plain_options == 405  # not a preflight, and OPTIONS is not a route method
    assert pre == 204
    assert pre_h["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in pre_h["Access-Control-Allow-Methods"]
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Origin" not in evil_h
    assert upstream.seen[0]["method"] == "GET"  # the preflight never reached the upstream


async def test_streamed_response_and_hop_by_hop_removed(
    upstream: Any, gw_config: Any, gateway: Any, http: Any
) -> None:
    route = {"name": "s", "match": {"prefix": "/stream"}, "upstream": upstream.url}
    route["auth"] = "public"
    async with gateway(gw_config([route])) as base:
        status, headers, body = await _get(
            http, f"{base}/stream", headers={"Connection": "keep-alive, X-Drop", "X-Drop": "1"}
        )
    assert status == 200
    assert body == b"chunk0;chunk1;chunk2;chunk3;chunk4;"
    assert headers["X-Up"] == "1"
    assert "X-Hop" not in headers  # named in the upstream's Connection (RFC 9110 7.6.1)
    assert _hdr(upstream.seen[0], "x-drop") == []  # named in the client's Connection


@pytest.mark.redis
async def test_revocation_through_redis_refuses_token(
    upstream: Any,
    gw_config: Any,
    gateway: Any,
    http: Any,
    mint: Any,
    redis_url: str,
    redis_prefix: str,
) -> None:
    from jwtgate.config import JwtGateConfig
    from jwtgate.revocation.redis import RedisRevocationStore

    route = {"name": "api", "match": {"prefix": "/api"}, "upstream": upstream.url}
    base_cfg = gw_config([route])
    config = JwtGateConfig.model_validate(
        {
            **base_cfg.model_dump(mode="json"),
            "revocation": {"backend": "redis"},
            "redis": {"url": redis_url, "prefix": redis_prefix},
        }
    )
    token, other = mint("alice"), mint("alice")
    store = RedisRevocationStore(redis_url, prefix=redis_prefix)
    await store.start()
    try:
        async with gateway(config) as base:
            before, _, _ = await _get(http, f"{base}/api/x", token)
            claims = json.loads(_b64(token.split(".")[1]))
            await store.publish(
                RevocationEvent(RevocationKind.JTI, claims["jti"], time.time() + 900)
            )
            for _ in range(100):  # pub/sub delivery is asynchronous
                after, _, body = await _get(http, f"{base}/api/x", token)
                if after == 401:
                    break
            still, _, _ = await _get(http, f"{base}/api/x", other)
    finally:
        await store.close()
    assert before == 200
    assert (after, body["error"]) == (401, "invalid_token")
    assert "revoked" in body["error_description"]
    assert still == 200


def _b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


async def test_jwks_file_rotation_is_picked_up_without_a_failed_request(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, tmp_path: Path
) -> None:
    issuer_dir = tmp_path / "issuer"
    ring = Keyring.open(issuer_dir, create=True)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(ring.jwks()))
    minter = AccessTokenMinter(ring, issuer="https://idp.example", audience="api")
    route = {"name": "api", "match": {"prefix": "/api"}, "upstream": upstream.url}
    config = gw_config(
        [route],
        issuers=[{"issuer": "https://idp.example", "audiences": ["api"], "jwks_file": str(jwks)}],
    )
    async with gateway(config) as base:
        before, _, _ = await _get(http, f"{base}/api/x", minter.mint("a").token)
        ring.rotate()
        jwks.write_text(json.dumps(ring.jwks()))
        # The very next request carries the new kid: the file is re-read on the miss.
        after, _, body = await _get(http, f"{base}/api/x", minter.mint("a").token)
    assert (before, after) == (200, 200), body


class _Crashing:
    def __init__(self) -> None:
        self.calls = 0

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        raise RuntimeError("secret internal detail /etc/passwd")

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def test_crashing_component_is_502_without_details(
    gw_config: Any, gateway: Any, http: Any
) -> None:
    crashing = _Crashing()
    route = {"name": "c", "match": {"prefix": "/"}, "upstream": "internal://c", "auth": "public"}
    async with gateway(gw_config([route]), components={"c": crashing}) as base:
        status, _, body = await _get(http, f"{base}/x")
    assert crashing.calls == 1
    assert (status, body["error"]) == (502, "bad_gateway")
    assert "secret" not in json.dumps(body)


async def test_forward_token_passes_any_scheme_verbatim(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any
) -> None:
    routes = [
        {
            "name": "auth",
            "match": {"prefix": "/auth"},
            "upstream": upstream.url,
            "auth": "public",
            "forward_token": True,
        },
        {"name": "pub", "match": {"prefix": "/pub"}, "upstream": upstream.url, "auth": "public"},
        {
            "name": "api",
            "match": {"prefix": "/api"},
            "upstream": upstream.url,
            "forward_token": True,
        },
    ]
    token = mint("alice")
    async with gateway(gw_config(routes)) as base:
        _, _, basic = await _get(
            http, f"{base}/auth/token", headers={"Authorization": "Basic YTpi"}
        )
        odd, _, _ = await _get(http, f"{base}/pub/x", headers={"Authorization": "Bearer a b"})
        _, _, bearer = await _get(http, f"{base}/api/x", token)
    assert _hdr(basic, "authorization") == ["Basic YTpi"]  # RFC 6749 client_secret_basic
    assert odd == 200  # a public route never parses credentials
    assert _hdr(bearer, "authorization") == [f"Bearer {token}"]


class _Reader:
    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def test_internal_upstream_body_limit(gw_config: Any, gateway: Any, http: Any) -> None:
    route = {
        "name": "r",
        "match": {"prefix": "/"},
        "upstream": "internal://reader",
        "auth": "public",
        "max_body_bytes": 1000,
    }

    async def chunks() -> Any:
        for _ in range(4):
            yield b"x" * 400

    async with gateway(gw_config([route]), components={"reader": _Reader()}) as base:
        small, _, size = await _get(http, f"{base}/x", method="POST", data=b"y" * 1000)
        big, _, body = await _get(http, f"{base}/x", method="POST", data=chunks())
    assert (small, size) == (200, 1000)
    assert (big, body["error"]) == (413, "body_too_large")


@pytest.mark.redis
async def test_shared_rate_limit_in_redis(
    upstream: Any,
    gw_config: Any,
    gateway: Any,
    http: Any,
    mint: Any,
    redis_url: str,
    redis_prefix: str,
) -> None:
    from jwtgate.config import JwtGateConfig

    route = {
        "name": "api",
        "match": {"prefix": "/api"},
        "upstream": upstream.url,
        "rate_limit": {"key": "subject", "rate": 0.01, "burst": 2},
    }
    data = gw_config([route], rate_limit_backend="redis").model_dump(mode="json")
    config = JwtGateConfig.model_validate(
        {**data, "redis": {"url": redis_url, "prefix": redis_prefix}}
    )
    token = mint("alice")
    # Two gateways (think: two workers or hosts) share one bucket per subject.
    async with gateway(config) as first, gateway(config) as second:
        statuses = [
            (await _get(http, f"{base}/api/x", token))[0] for base in (first, second, first)
        ]
    assert statuses == [200, 200, 429]


async def test_a_route_pinned_to_an_issuer_refuses_other_trusted_issuers(
    upstream: Any, gw_config: Any, gateway: Any, http: Any, mint: Any, tmp_path: Path
) -> None:
    """routes[].issuers: a valid token of another configured issuer is 401 invalid_token there."""
    partner_dir = tmp_path / "partner"
    ring = Keyring.open(partner_dir, create=True)
    jwks = tmp_path / "partner-jwks.json"
    jwks.write_text(json.dumps(ring.jwks()))
    partner = AccessTokenMinter(ring, issuer="https://partner.example", audience="api")
    local_issuer = gw_config([]).tokens.issuer  # what the `mint` fixture signs for
    routes = [
        {
            "name": "own",
            "match": {"prefix": "/own"},
            "upstream": upstream.url,
            "issuers": [local_issuer],
        },
        {"name": "any", "match": {"prefix": "/any"}, "upstream": upstream.url},
    ]
    issuers = [
        {"issuer": local_issuer, "audiences": [gw_config([]).tokens.audience], "keyring": True},
        {"issuer": "https://partner.example", "audiences": ["api"], "jwks_file": str(jwks)},
    ]
    local, foreign = mint("alice"), partner.mint("mallory").token
    async with gateway(gw_config(routes, issuers=issuers)) as base:
        own_local, _, _ = await _get(http, f"{base}/own/x", local)
        own_foreign, headers, body = await _get(http, f"{base}/own/x", foreign)
        any_foreign, _, _ = await _get(http, f"{base}/any/x", foreign)
    assert (own_local, any_foreign) == (200, 200)
    assert (own_foreign, body["error"]) == (401, "invalid_token")
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert "mallory" not in json.dumps(body)


def test_a_pin_to_an_unconfigured_issuer_is_refused(gw_config: Any) -> None:
    route = {"name": "r", "match": {"prefix": "/"}, "upstream": "http://127.0.0.1:9"}
    config = gw_config([{**route, "issuers": ["https://typo.example"]}])
    with pytest.raises(ConfigError, match=r"gateway\.routes\[0\]\.issuers: 'https://typo"):
        compile_gateway(config)
