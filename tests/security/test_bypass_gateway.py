"""Hostile review of the gateway's checks: another spelling of the same input.

Each vector names its source. The stage functions are exercised directly
(route selection, header sanitising, token extraction); the same vectors that
were real bypasses are replayed against a running ``jwtgate demo`` in
``test_bypass_gateway_e2e.py``.
"""

from __future__ import annotations

import pytest

from jwtgate.config import load_config_text
from jwtgate.errors import JwtGateError
from jwtgate.gateway.compile import CompiledRoute, compile_gateway
from jwtgate.gateway.errors import BadRequest, InvalidRequest, UnsafeClaim
from jwtgate.gateway.extract import extract
from jwtgate.gateway.forward import identity_headers
from jwtgate.gateway.headers import sanitize
from jwtgate.gateway.routing import select_route
from jwtgate.jose import VerifiedToken


def _compile(text: str) -> tuple[CompiledRoute, ...]:
    return compile_gateway(load_config_text(f"gateway: {{routes: [{text}]}}")).routes


# A policy shaped like the demo's: an admin area inside a user area, a public
# corner, a public catch-all; all on one upstream, as is common.
ROUTES = _compile(
    "{name: admin, match: {prefix: /api/admin}, upstream: 'http://h', auth: required,"
    "  require: {roles: {any_of: [admin]}}},"
    " {name: public, match: {prefix: /api/public}, upstream: 'http://h', auth: public},"
    " {name: api, match: {prefix: /api}, upstream: 'http://h', auth: required},"
    " {name: vhost, match: {prefix: /, host: admin.example}, upstream: 'http://h',"
    "  auth: required},"
    " {name: rest, match: {prefix: /}, upstream: 'http://h', auth: public}"
)

# (vector id / source, decoded request path, route name or None for "refused 400")
PATH_VECTORS: list[tuple[str, str, str | None]] = [
    # Bypasses found and fixed: a lenient upstream sees another route's path.
    ("CVE-2020-1957 Tomcat '..;' is '..'", "/api/public/..;/admin/users", None),
    ("CVE-2020-1957 '..;' as the whole tail", "/api/public/..;", None),
    ("RFC3986-3.3 '.;x' is '.'", "/api/public/.;x/x", None),
    ("RFC3986-3.3 ;param ends the admin segment", "/api/admin;x/users", None),
    ("RFC3986-3.3 ;param on the public segment", "/api/public;x", None),
    ("CVE-2019-9901 double slash before admin", "/api//admin/users", None),
    ("CVE-2019-9901 leading double slash", "//api/admin", None),
    ("CVE-2019-9901 slashes before public", "/api///public", None),
    ("CVE-2016-5007 upper-case API", "/API/admin/users", None),
    ("CVE-2016-5007 upper-case ADMIN", "/api/ADMIN/users", None),
    ("CVE-2016-5007 mixed case with ;param", "/api/Admin;x/users", None),
    ("CVE-2016-5007 mixed case from the catch-all", "/Api/public", None),
    # Already safe (and now tested): parameters, slashes or case inside one route.
    ("mixed case inside admin", "/api/admin/Users/Alice", "admin"),
    ("mixed case inside the catch-all", "/Static/Logo.PNG", "rest"),
    ("RFC3986-3.3 ;jsessionid inside admin", "/api/admin/x;jsessionid=1", "admin"),
    ("RFC3986-3.3 trailing ;param segment inside admin", "/api/admin/;x", "admin"),
    ("merge_slashes inside one route", "/api/admin//users", "admin"),
    ("merge_slashes inside the catch-all", "/static//a.css", "rest"),
    ("RFC3986-5.2.4 dot segment", "/api/public/../admin", None),
    ("RFC3986-2.1 %2e%2e after decoding", "/api/public/../admin", None),
    ("RFC3986-5.2.4 single dot", "/api/./admin", None),
    ("CWE-22 backslash", "/api/public\\..\\admin", None),
    ("CWE-158 NUL byte", "/api/admin\x00", None),
    ("RFC3986-2.1 %61dmin is decoded before matching", "/api/admin/users", "admin"),
    ("%2F decoded: admin matched on the decoded path", "/api/admin/x", "admin"),
    ("segment boundary: /api/adminx is not admin", "/api/adminx", "api"),
    ("trailing slash is still admin", "/api/admin/", "admin"),
    ("exact prefix is admin", "/api/admin", "admin"),
    ("RFC3986-2.1 double-encoding stays literal", "/api/public/%2e%2e/admin", "public"),
]


@pytest.mark.parametrize(
    ("vector", "path", "expected"), PATH_VECTORS, ids=[v[0] for v in PATH_VECTORS]
)
def test_path_spellings_cannot_change_the_route(
    vector: str, path: str, expected: str | None
) -> None:
    if expected is None:
        with pytest.raises(BadRequest):
            select_route(ROUTES, path, "GET", b"api.example")
    else:
        assert select_route(ROUTES, path, "GET", b"api.example").name == expected


# (vector id / source, Host header, route name for "/x")
HOST_VECTORS: list[tuple[str, bytes | None, str]] = [
    ("RFC1034-3.1 trailing dot is the same name", b"admin.example.", "vhost"),
    ("RFC1034-3.1 trailing dot with a port", b"admin.example.:8443", "vhost"),
    ("RFC9110-7.2 host is case-insensitive", b"ADMIN.Example", "vhost"),
    ("RFC9110-7.2 port ignored", b"admin.example:80", "vhost"),
    ("another host falls through", b"admin.example.evil", "rest"),
    ("no Host header falls through", None, "rest"),
]


@pytest.mark.parametrize(
    ("vector", "host", "expected"), HOST_VECTORS, ids=[v[0] for v in HOST_VECTORS]
)
def test_host_spellings_select_the_host_route(
    vector: str, host: bytes | None, expected: str
) -> None:
    assert select_route(ROUTES, "/x", "GET", host).name == expected


def test_host_route_configured_with_a_trailing_dot() -> None:
    routes = _compile(
        "{name: v, match: {prefix: /, host: Admin.Example.}, upstream: 'http://h'},"
        " {name: r, match: {prefix: /}, upstream: 'http://h', auth: public}"
    )
    assert select_route(routes, "/", "GET", b"admin.example").name == "v"
    assert select_route(routes, "/", "GET", b"admin.example.").name == "v"


def test_route_prefixes_with_upper_case_still_match_their_own_spelling() -> None:
    routes = _compile(
        "{name: a, match: {prefix: /Admin}, upstream: 'http://h', auth: required},"
        " {name: r, match: {prefix: /}, upstream: 'http://h', auth: public}"
    )
    assert select_route(routes, "/Admin/x", "GET", None).name == "a"
    with pytest.raises(BadRequest):
        select_route(routes, "/admin/x", "GET", None)  # CVE-2016-5007
    assert select_route(routes, "/other/X", "GET", None).name == "r"


def test_lower_case_method_is_not_an_allowed_method() -> None:
    # RFC 9110 section 9.1: methods are case-sensitive; the HTTP parser refuses
    # "get" before routing, and routing itself never equates the two.
    routes = _compile(
        "{name: w, match: {prefix: /, methods: [POST]}, upstream: 'http://h', auth: required}"
    )
    with pytest.raises(JwtGateError):
        select_route(routes, "/", "post", None)


STRIP = frozenset({b"x-tenant"})

# (vector id / source, inbound header name as the ASGI server delivers it, kept?)
HEADER_VECTORS: list[tuple[str, bytes, bool]] = [
    # Bypasses found and fixed: CGI/WSGI maps '_' and '-' to the same variable.
    ("RFC3875-4.1.18 x_user_id", b"x_user_id", False),
    ("RFC3875-4.1.18 x_user_roles", b"x_user_roles", False),
    ("RFC3875-4.1.18 mixed x-user_roles", b"x-user_roles", False),
    ("RFC3875-4.1.18 x-auth_subject", b"x-auth_subject", False),
    ("RFC3875-4.1.18 configured strip x_tenant", b"x_tenant", False),
    ("RFC3875-4.1.18 x_forwarded_for spoofs the client", b"x_forwarded_for", False),
    ("RFC3875-4.1.18 x_forwarded_host", b"x_forwarded_host", False),
    ("RFC3875-4.1.18 x_request_id", b"x_request_id", False),
    ("RFC3875-4.1.18 proxy_authorization", b"proxy_authorization", False),
    # Already safe (and now tested).
    ("anti-spoofing x-user-id", b"x-user-id", False),
    ("anti-spoofing x-auth-roles", b"x-auth-roles", False),
    ("configured strip x-tenant", b"x-tenant", False),
    ("RFC9110-7.6.1 proxy-authorization", b"proxy-authorization", False),
    ("unrelated underscore header is kept", b"x_trace_flags", True),
    ("unrelated header is kept", b"x-trace-flags", True),
]


@pytest.mark.parametrize(
    ("vector", "name", "kept"), HEADER_VECTORS, ids=[v[0] for v in HEADER_VECTORS]
)
def test_identity_header_spellings_are_stripped(vector: str, name: bytes, kept: bool) -> None:
    out = sanitize([(name, b"evil"), (b"accept", b"*/*")], STRIP, 16_384)
    assert ((name, b"evil") in out.headers) is kept
    assert (b"accept", b"*/*") in out.headers


def test_connection_cannot_name_away_what_the_gateway_adds() -> None:
    # RFC 9110 section 7.6.1: Connection-named fields are removed inbound; the
    # identity headers are added after sanitising, so naming them is harmless,
    # and the set-aside Authorization is not in the forwarded list to remove.
    out = sanitize(
        [(b"connection", b"X-User-Id, Authorization, x-keep"), (b"x-keep", b"1")],
        STRIP,
        16_384,
    )
    assert out.headers == []


ROUTE = _compile(
    "{name: r, match: {prefix: /}, upstream: 'http://h', auth: required,"
    " token_sources: {cookie: at, query_param: access_token}}"
)[0]
TOKEN = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"

# (vector id / source, Authorization values, cookie, query, token or error)
AUTHZ_VECTORS: list[tuple[str, list[bytes], bytes | None, bytes, str | type[Exception] | None]] = [
    ("RFC6750-2.1 scheme upper-case", [b"BEARER " + TOKEN.encode()], None, b"", TOKEN),
    ("RFC6750-2.1 scheme lower-case", [b"bearer " + TOKEN.encode()], None, b"", TOKEN),
    ("RFC6750-2.1 1*SP", [b"Bearer   " + TOKEN.encode()], None, b"", TOKEN),
    ("RFC6750-2.1 tab is not SP: another scheme", [b"Bearer\t" + TOKEN.encode()], None, b"", None),
    ("RFC6750-2.1 trailing space", [b"Bearer " + TOKEN.encode() + b" "], None, b"", InvalidRequest),
    (
        "RFC9110-5.3 comma-joined credentials",
        [b"Bearer " + TOKEN.encode() + b", Bearer x.y.z"],
        None,
        b"",
        InvalidRequest,
    ),
    ("RFC6750-2 two Authorization headers", [b"Bearer a", b"Bearer b"], None, b"", InvalidRequest),
    ("RFC6750-2.1 empty credentials", [b"Bearer "], None, b"", InvalidRequest),
    (
        "RFC6750-2 header and cookie",
        [b"Bearer a.b.c"],
        b"at=" + TOKEN.encode(),
        b"",
        InvalidRequest,
    ),
    ("RFC6750-2 header and query", [b"Bearer a.b.c"], None, b"access_token=a.b.c", InvalidRequest),
    ("RFC6750-2 cookie and query", [], b"at=a.b.c", b"access_token=a.b.c", InvalidRequest),
    ("RFC6265bis-8.6 cookie tossing", [], b"at=a.b.c; at=d.e.f", b"", InvalidRequest),
    ("RFC6750-2.3 query twice", [], None, b"access_token=a&access_token=b", InvalidRequest),
    # Bypass found and fixed: an encoded parameter name the upstream decodes.
    (
        "WHATWG-URL-5.1 access%5Ftoken is the parameter",
        [],
        None,
        b"access%5Ftoken=" + TOKEN.encode(),
        TOKEN,
    ),
    (
        "WHATWG-URL-5.1 header and access%5ftoken",
        [b"Bearer a.b.c"],
        None,
        b"access%5ftoken=d.e.f",
        InvalidRequest,
    ),
    (
        "WHATWG-URL-5.1 %61ccess_token twice",
        [],
        None,
        b"access_token=a&%61ccess_token=b",
        InvalidRequest,
    ),
    ("RFC6750-2.3 query malformed", [], None, b"access_token=a%20b", InvalidRequest),
]


@pytest.mark.parametrize(
    ("vector", "authz", "cookie", "query", "expected"),
    AUTHZ_VECTORS,
    ids=[v[0] for v in AUTHZ_VECTORS],
)
def test_token_extraction_spellings(
    vector: str,
    authz: list[bytes],
    cookie: bytes | None,
    query: bytes,
    expected: str | type[Exception] | None,
) -> None:
    raw = [(b"authorization", a) for a in authz]
    if cookie is not None:
        raw.append((b"cookie", cookie))
    inbound = sanitize(raw, STRIP, 16_384)
    if isinstance(expected, type):
        with pytest.raises(expected):
            extract(ROUTE, inbound, query)
    else:
        assert extract(ROUTE, inbound, query).token == expected


def _verified(claims: dict[str, object]) -> VerifiedToken:
    sub = claims.get("sub")
    return VerifiedToken(
        header={},
        claims=claims,
        issuer="i",
        subject=sub if isinstance(sub, str) else None,
        jti=None,
        sid=None,
        client_id=None,
        exp=0.0,
        iat=None,
        scopes=frozenset(),
        roles=frozenset(),
        kid="k",
        alg="ES256",
    )


FORWARD_ROUTE = _compile("{name: f, match: {prefix: /}, upstream: 'http://h'}")[0]

# (vector id / source, signed claims from a trusted issuer, forwarded or refused)
FORWARD_VECTORS: list[tuple[str, dict[str, object], bool]] = [
    # Bypass found and fixed: the upstream trims what the gateway compared untrimmed.
    ("RFC9110-5.5 leading space in sub", {"sub": " admin"}, False),
    ("RFC9110-5.5 trailing tab in sub", {"sub": "admin\t"}, False),
    ("RFC9110-5.6.1 leading space in a role", {"sub": "u", "roles": ["user", " admin"]}, False),
    ("RFC9110-5.6.1 trailing space in a role", {"sub": "u", "roles": ["admin ", "user"]}, False),
    # Already safe (and now tested).
    ("RFC9110-5.6.1 comma inside a role", {"sub": "u", "roles": ["user,admin"]}, False),
    ("CWE-113 CRLF in sub", {"sub": "u\r\nx-user-roles: admin"}, False),
    ("inner space is kept", {"sub": "Alice Smith"}, True),
    ("scope whitespace is normalised", {"sub": "u", "scope": " read  write "}, True),
    ("plain roles", {"sub": "u", "roles": ["user", "admin"]}, True),
]


@pytest.mark.parametrize(
    ("vector", "claims", "forwarded"), FORWARD_VECTORS, ids=[v[0] for v in FORWARD_VECTORS]
)
def test_claims_an_upstream_would_read_differently_are_refused(
    vector: str, claims: dict[str, object], forwarded: bool
) -> None:
    if forwarded:
        sent = dict(identity_headers(FORWARD_ROUTE, _verified(claims)))
        for value in sent.values():
            assert value == value.strip()
        assert sent[b"x-user-id"] == str(claims["sub"]).encode()
    else:
        with pytest.raises(UnsafeClaim):
            identity_headers(FORWARD_ROUTE, _verified(claims))


@pytest.mark.parametrize(
    "query",
    [b"x=1&access_token=a.b.c", b"x=1&access%5Ftoken=a.b.c", b"x=1&%61ccess%5ftoken=a.b.c"],
    ids=["plain", "access%5Ftoken", "%61ccess%5ftoken"],
)
def test_query_token_is_removed_before_forwarding_in_any_spelling(query: bytes) -> None:
    """RFC 6750 section 5.3: a token in the URL must not travel on to the upstream."""
    extracted = extract(ROUTE, sanitize([], STRIP, 16_384), query)
    assert extracted.token == "a.b.c"
    assert extracted.query_string == b"x=1"
