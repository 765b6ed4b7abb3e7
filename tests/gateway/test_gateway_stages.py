"""Unit tests of each pipeline stage module, data-driven where hostile input is involved."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.config import load_config_text
from jwtgate.errors import BadSignature, JwtGateError, TokenRevoked
from jwtgate.gateway.authorize import authorize
from jwtgate.gateway.compile import CompiledRoute, compile_gateway
from jwtgate.gateway.errors import (
    BadRequest,
    HeadersTooLarge,
    InsufficientScope,
    InvalidRequest,
    MethodNotAllowed,
    MissingToken,
    RateLimited,
    RouteNotFound,
    UnsafeClaim,
    render_error,
)
from jwtgate.gateway.extract import _BEARER, _bearer_token, extract
from jwtgate.gateway.forward import client_address, identity_headers, request_id
from jwtgate.gateway.headers import HOP_BY_HOP, sanitize
from jwtgate.gateway.routing import _select, select_route
from jwtgate.jose import VerifiedToken


def _routes(text: str) -> tuple[CompiledRoute, ...]:
    return compile_gateway(load_config_text(f"gateway: {{routes: [{text}]}}")).routes


ROUTE = _routes("{name: r, match: {prefix: /}, upstream: 'http://h'}")[0]
COOKIE_ROUTE = _routes(
    "{name: r, match: {prefix: /}, upstream: 'http://h',"
    " token_sources: {cookie: jwtgate-access, query_param: access_token}}"
)[0]


def _token(
    claims: dict[str, Any],
    roles: frozenset[str] = frozenset(),
    scopes: frozenset[str] = frozenset(),
) -> VerifiedToken:
    return VerifiedToken(
        header={},
        claims=claims,
        issuer="i",
        subject=claims.get("sub"),
        jti=None,
        sid=None,
        client_id=None,
        exp=0.0,
        iat=None,
        scopes=scopes,
        roles=roles,
        kid="k",
        alg="ES256",
    )


# ---------------------------------------------------------------- headers


def test_sanitize_strips_identity_and_hop_by_hop() -> None:
    raw = [
        (b"host", b"gw"),
        (b"x-user-id", b"evil"),
        (b"x-auth-anything", b"evil"),
        (b"x-token-id", b"evil"),
        (b"connection", b"keep-alive, x-secret"),
        (b"x-secret", b"1"),
        (b"te", b"trailers"),
        (b"upgrade", b"h2c"),
        (b"proxy-authorization", b"Basic x"),
        (b"authorization", b"Bearer t"),
        (b"accept", b"*/*"),
        (b"x-forwarded-for", b"1.2.3.4"),
    ]
    out = sanitize(raw, frozenset({b"x-token-id"}), 16384)
    assert out.headers == [(b"accept", b"*/*")]
    assert out.authorization == [b"Bearer t"]
    assert out.host == b"gw"
    assert out.xff == b"1.2.3.4"


@pytest.mark.parametrize(
    "raw",
    [
        [(b"content-length", b"5"), (b"content-length", b"6")],  # RFC 9112 section 6.3
        [(b"content-length", b"-1")],
        [(b"content-length", b"abc")],
        [(b"host", b"a"), (b"host", b"b")],  # RFC 9112 section 3.2
    ],
)
def test_sanitize_refuses_ambiguous_framing(raw: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(BadRequest):
        sanitize(raw, frozenset(), 16384)


def test_sanitize_size_limit() -> None:
    with pytest.raises(HeadersTooLarge):
        sanitize([(b"x-big", b"a" * 2000)], frozenset(), 1024)


# ---------------------------------------------------------------- extract


@pytest.mark.parametrize(
    ("values", "token"),
    [
        ([b"Bearer abc.def.ghi"], "abc.def.ghi"),
        ([b"bearer abc"], "abc"),  # scheme is case-insensitive (RFC 9110 section 11.1)
        ([b"BEARER   abc=="], "abc=="),  # 1*SP and trailing "=" (RFC 6750 section 2.1)
        ([b"Basic dXNlcjpwYXNz"], None),
        ([], None),
    ],
)
def test_extract_bearer(values: list[bytes], token: str | None) -> None:
    inbound = sanitize([(b"authorization", v) for v in values], frozenset(), 16384)
    assert extract(ROUTE, inbound, b"").token == token


@pytest.mark.parametrize(
    "values",
    [
        [b"Bearer a", b"Bearer a"],  # exactly one header
        [b"Bearer"],
        [b"Bearer a b"],  # exactly one token
        [b"Bearer a\tb"],
        [b"Bearer =abc"],  # b64token must not start with "="
        [b"Bearer a=b"],
        [b"Bearer \xc3\xa9"],
    ],
)
def test_extract_bearer_refuses(values: list[bytes]) -> None:
    inbound = sanitize([(b"authorization", v) for v in values], frozenset(), 16384)
    with pytest.raises(InvalidRequest):
        extract(ROUTE, inbound, b"")


def test_extract_cookie_and_query_opt_in() -> None:
    cookie = sanitize([(b"cookie", b"a=1; jwtgate-access=tok.en.x; b=2")], frozenset(), 16384)
    got = extract(COOKIE_ROUTE, cookie, b"")
    assert (got.token, got.source, got.cookie) == ("tok.en.x", "cookie", b"a=1; b=2")
    assert extract(ROUTE, cookie, b"").token is None  # not enabled on ROUTE
    query = sanitize([], frozenset(), 16384)
    got = extract(COOKIE_ROUTE, query, b"x=1&access_token=abc&y=2")
    assert (got.token, got.source, got.query_string) == ("abc", "query", b"x=1&y=2")
    assert extract(ROUTE, query, b"access_token=abc").token is None


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ([(b"authorization", b"Bearer a"), (b"cookie", b"jwtgate-access=b")], b""),
        ([(b"authorization", b"Bearer a")], b"access_token=b"),  # RFC 6750 section 2
        ([(b"cookie", b"jwtgate-access=a; jwtgate-access=b")], b""),  # cookie tossing
        ([], b"access_token=a&access_token=b"),
    ],
)
def test_extract_refuses_more_than_one_token(
    headers: list[tuple[bytes, bytes]], query: bytes
) -> None:
    with pytest.raises(InvalidRequest):
        extract(COOKIE_ROUTE, sanitize(headers, frozenset(), 16384), query)


# ---------------------------------------------------------------- authorize


def test_authorize_failures_carry_reason_and_scope() -> None:
    (route,) = _routes(
        "{name: r, match: {prefix: /}, upstream: 'http://h',"
        " require: {scopes: {any_of: [a, b]}, roles: {all_of: [x]}, claims: {t: 1}}}"
    )
    ok = _token({"t": 1}, frozenset({"x"}), frozenset({"b"}))
    authorize(route, ok)
    cases = [
        (_token({"t": 1}, frozenset({"x"}), frozenset()), "insufficient_scope"),
        (_token({"t": 1}, frozenset(), frozenset({"a"})), "insufficient_role"),
        (_token({"t": True}, frozenset({"x"}), frozenset({"a"})), "claim_mismatch"),
        (_token({"t": "1"}, frozenset({"x"}), frozenset({"a"})), "claim_mismatch"),
    ]
    for token, reason in cases:
        with pytest.raises(InsufficientScope) as info:
            authorize(route, token)
        assert (info.value.reason, info.value.scope) == (reason, "a b")


# ---------------------------------------------------------------- forward


def test_identity_headers_default_map() -> None:
    token = _token({"sub": "u1", "roles": ["a", "b"], "scope": "r  w", "jti": "j"})
    assert identity_headers(ROUTE, token) == [
        (b"x-user-id", b"u1"),
        (b"x-user-roles", b"a,b"),
        (b"x-user-scopes", b"r,w"),
        (b"x-token-id", b"j"),
    ]


@pytest.mark.parametrize(
    "sub",
    ["a\rb", "a\nb", "a\x00b", "a\x7fb", "a\x1bb"],  # CWE-113, RFC 9110 section 5.5
)
def test_identity_headers_refuse_control_characters(sub: str) -> None:
    with pytest.raises(UnsafeClaim):
        identity_headers(ROUTE, _token({"sub": sub}))


NETS = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("peer", "xff", "client", "sent"),
    [
        ("1.1.1.1", b"9.9.9.9", "1.1.1.1", b"1.1.1.1"),  # untrusted peer: XFF ignored
        ("10.0.0.1", b"9.9.9.9", "9.9.9.9", b"9.9.9.9, 10.0.0.1"),
        (
            "10.0.0.1",
            b"6.6.6.6, 9.9.9.9, 10.0.0.2",
            "9.9.9.9",
            b"6.6.6.6, 9.9.9.9, 10.0.0.2, 10.0.0.1",
        ),
        ("10.0.0.1", b"garbage", "10.0.0.1", b"garbage, 10.0.0.1"),
        ("10.0.0.1", None, "10.0.0.1", b"10.0.0.1"),
    ],
)
def test_client_address(peer: str, xff: bytes | None, client: str, sent: bytes) -> None:
    assert client_address(peer, xff, NETS) == (client, sent)


def test_request_id_only_from_trusted_proxy() -> None:
    assert request_id(b"abc-1", True, "fresh") == b"abc-1"
    assert request_id(b"abc-1", False, "fresh") == b"fresh"
    assert request_id(b"bad\r\nid", True, "fresh") == b"fresh"


# ---------------------------------------------------------------- routing


def test_select_route_first_match_host_and_methods() -> None:
    routes = _routes(
        "{name: a, match: {prefix: /api, host: api.example}, upstream: 'http://h'},"
        " {name: b, match: {prefix: /api, methods: [get]}, upstream: 'http://h'},"
        " {name: c, match: {path: /api/post, methods: [POST]}, upstream: 'http://h'}"
    )
    assert select_route(routes, "/api/x", "GET", b"API.example:8443").name == "a"
    assert select_route(routes, "/api/x", "GET", b"other").name == "b"
    assert select_route(routes, "/api/post", "POST", None).name == "c"
    with pytest.raises(MethodNotAllowed) as info:
        select_route(routes, "/api/x", "PUT", None)
    assert info.value.allow == frozenset({"GET"})
    with pytest.raises(RouteNotFound):
        select_route(routes, "/other", "GET", None)


@pytest.mark.parametrize("path", ["/a/../b", "/a/./b", "/..", "a", "/a\\..\\b", "/a\x00"])
def test_select_route_refuses_confusing_paths(path: str) -> None:
    with pytest.raises(BadRequest):
        select_route((ROUTE,), path, "GET", None)


_CACHE_ROUTES = _routes(
    "{name: a, match: {prefix: /api, host: api.example}, upstream: 'http://h'},"
    " {name: b, match: {prefix: /api, methods: [get]}, upstream: 'http://h'},"
    " {name: c, match: {path: /Api/post, methods: [POST]}, upstream: 'http://h'},"
    " {name: d, match: {prefix: /pub/}, upstream: 'http://h'}"
)


def _outcome(select: Any, path: str, method: str, host: bytes | None) -> object:
    try:
        return select(_CACHE_ROUTES, path, method, host).name
    except JwtGateError as exc:
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet="/apiAPIpostub.;%x", max_size=14),
    st.sampled_from(["GET", "POST", "PUT", "OPTIONS"]),
    st.sampled_from([None, b"api.example", b"API.example.:1", b"other"]),
)
def test_select_route_cache_changes_no_outcome(path: str, method: str, host: bytes | None) -> None:
    # The cache of chosen routes must answer exactly as the uncached selection,
    # on the first request and on every repeat (refusals are never cached).
    expected = _outcome(_select, path, method, host)
    assert _outcome(select_route, path, method, host) == expected
    assert _outcome(select_route, path, method, host) == expected


# ---------------------------------------------------------------- errors


def test_render_errors_rfc6750() -> None:
    status, headers, body = render_error(MissingToken())
    assert status == 401
    assert dict(headers)[b"www-authenticate"] == b'Bearer realm="jwtgate"'
    status, headers, body = render_error(BadSignature(), token_presented=True)
    assert dict(headers)[b"www-authenticate"] == (
        b'Bearer realm="jwtgate", error="invalid_token", '
        b'error_description="the token signature is invalid"'
    )
    assert body == b'{"error":"invalid_token","error_description":"the token signature is invalid"}'
    status, headers, _ = render_error(InsufficientScope("insufficient_role", "a b"))
    assert status == 403
    assert dict(headers)[b"www-authenticate"].endswith(b'scope="a b"')
    status, headers, _ = render_error(RateLimited(0.2))
    assert (status, dict(headers)[b"retry-after"]) == (429, b"1")
    status, headers, _ = render_error(TokenRevoked())
    assert b"error=" in dict(headers)[b"www-authenticate"]


def test_render_error_quotes_are_never_raw() -> None:
    # RFC 6750 section 3: error_description excludes '"' and '\\'.
    _, headers, _ = render_error(InvalidRequest('bad "x" \\ y\r\n'))
    challenge = dict(headers)[b"www-authenticate"]
    assert challenge.count(b'"') == 6
    assert b"\\" not in challenge
    assert b"\r" not in challenge


# ---------------------------------------------------------------- properties


_NAMES = st.sampled_from(
    [
        b"x-user-id",
        b"x-auth-z",
        b"x-user-",
        b"connection",
        b"te",
        b"upgrade",
        b"x-token-id",
        b"accept",
        b"x-ok",
        b"authorization",
        b"cookie",
        b"keep-alive",
        b"x-forwarded-for",
    ]
) | st.binary(min_size=1, max_size=12).map(bytes.lower)
_VALUES = st.binary(max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=12))
def test_sanitize_never_forwards_identity_or_hop_by_hop(raw: list[tuple[bytes, bytes]]) -> None:
    strip = compile_gateway(load_config_text("")).strip_exact
    try:
        out = sanitize(raw, strip, 1 << 20)
    except BadRequest:
        return
    for name, _ in out.headers:
        assert not name.startswith((b"x-user-", b"x-auth-"))
        assert name not in strip
        assert name not in HOP_BY_HOP
        assert name not in (b"authorization", b"host", b"cookie", b"content-length")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_extract_accepts_only_b64token_syntax(value: bytes) -> None:
    inbound = sanitize([(b"authorization", value)], frozenset(), 16384)
    try:
        token = extract(ROUTE, inbound, b"").token
    except InvalidRequest:
        return
    if token is not None:
        assert re.fullmatch(r"[A-Za-z0-9\-._~+/]+=*", token)  # RFC 6750 section 2.1
        assert value.lower().startswith(b"bearer ")


_BEARER_PIECES = st.sampled_from(
    [b"Bearer", b"bearer", b"BEARER", b"BeArEr", b"Bearer ", b"Basic", b" ", b"  ", b"\t"]
)
_TOKEN_BYTES = st.binary(max_size=40) | st.text(
    alphabet="AZaz09-._~+/= \t\r\n\x00\xff", max_size=40
).map(lambda t: t.encode("latin-1"))


@settings(max_examples=2000, deadline=None)
@given(st.lists(_BEARER_PIECES | _TOKEN_BYTES, max_size=4).map(b"".join))
def test_bearer_fast_path_matches_the_regex(value: bytes) -> None:
    # The byte-operation fast path accepts exactly the RFC 6750 section 2.1
    # language the regex defines, and returns the same token.
    match = _BEARER.fullmatch(value)
    assert _bearer_token(value) == (match.group(2) if match is not None else None)


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer abc",
        b"bearer a.b-c_d~e+f/g==",
        b"Bearer ==",
        b"Bearer a=b",
        b"Bearer  abc",
        b"Bearer abc ",
        b"Bearer abc\n",
        b"Bearer\tabc",
        b"Bearer \xffabc",
        b"Bearer a\x00",
        b"Bearer ",
        b"Bearerabc",
        b"Beare abc",
    ],
)
def test_bearer_fast_path_edge_cases(value: bytes) -> None:
    match = _BEARER.fullmatch(value)
    assert _bearer_token(value) == (match.group(2) if match is not None else None)
