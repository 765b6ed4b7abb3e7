"""The per-request fast paths of the stages agree with their general paths.

Each fast path re-states checks of a general path to save Python calls on
the common request; these tests pin it to that path (kept in the module, or
restated here as the specification) over generated inputs, so a later
change to one side cannot drift from the other.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.config import load_config_text
from jwtgate.errors import JwtGateError
from jwtgate.gateway.authorize import authorize
from jwtgate.gateway.compile import ALWAYS_STRIPPED_PREFIXES, CompiledRoute, compile_gateway
from jwtgate.gateway.errors import InsufficientScope, RateLimited
from jwtgate.gateway.extract import (
    _TOKENS,
    _TOKENS_MAX,
    _TOKENS_VALUE_MAX,
    Extracted,
    _from_header,
    extract,
)
from jwtgate.gateway.headers import _TAKEN, HOP_BY_HOP, InboundHeaders, _take, sanitize
from jwtgate.gateway.limit import _SUBJECT_KEYS, _SUBJECT_KEYS_MAX, _key, check_rate_now
from jwtgate.gateway.pipeline import REQUEST_IDS
from jwtgate.gateway.ratelimit import MemoryRateLimiter
from jwtgate.gateway.upstream_headers import request_head
from jwtgate.jose import VerifiedToken


def _route(extra: str = "") -> CompiledRoute:
    text = f"{{name: r, match: {{prefix: /}}, upstream: 'http://h'{extra}}}"
    return compile_gateway(load_config_text(f"gateway: {{routes: [{text}]}}")).routes[0]


def _token(subject: str | None, claims: dict[str, Any], **sets: frozenset[str]) -> VerifiedToken:
    return VerifiedToken(
        header={},
        claims=claims,
        issuer="i",
        subject=subject,
        jti=None,
        sid=None,
        client_id=None,
        exp=0.0,
        iat=None,
        scopes=sets.get("scopes", frozenset()),
        roles=sets.get("roles", frozenset()),
        kid="k",
        alg="ES256",
    )


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except JwtGateError as exc:
        return type(exc), str(exc)


# ---------------------------------------------------------------- extract

_HEADER_ROUTE = _route()
# Scheme, separator and token pieces that make near misses of ``Bearer <b64token>`` likely.
_SCHEMES = st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"bEaReR", b"Basic", b"Bearer\t", b""])
_SEPARATORS = st.sampled_from([b" ", b" ", b"  ", b"", b"\t"])
_PIECES = st.sampled_from(
    [b" ", b"=", b"==", b"abc", b"A-._~+/9", b"\x00", b"\xff", b",", b"\r\n", b"eyJ.x.y", b"%3D"]
)
_AUTH_VALUE = st.one_of(
    st.tuples(_SCHEMES, _SEPARATORS, st.lists(_PIECES, max_size=4).map(b"".join)).map(b"".join),
    st.binary(max_size=20),
)


@settings(max_examples=600, deadline=None)
@given(
    values=st.lists(_AUTH_VALUE, min_size=1, max_size=2) | st.just([]),
    cookie=st.none() | st.just(b"a=b"),
)
def test_extract_fast_path_matches_the_header_path(
    values: list[bytes], cookie: bytes | None
) -> None:
    inbound = InboundHeaders()
    inbound.authorization = values
    inbound.cookie = cookie

    def general() -> tuple[object, ...]:
        # extract on a header-only route before the fast path existed.
        token = _from_header(values)
        return (token, "header" if token is not None else None, b"q=1", cookie)

    def fast() -> tuple[object, ...]:
        ext: Extracted = extract(_HEADER_ROUTE, inbound, b"q=1")
        return (ext.token, ext.source, ext.query_string, ext.cookie)

    assert _outcome(fast) == _outcome(general)


def test_extract_fast_path_takes_the_common_token() -> None:
    inbound = InboundHeaders()
    inbound.authorization = [b"bearer abc.DEF-_~+/=="]
    ext = extract(_HEADER_ROUTE, inbound, b"")
    assert (ext.token, ext.source) == ("abc.DEF-_~+/==", "header")


# ---------------------------------------------------------------- sanitize

_NAMES = st.sampled_from(
    [b"host", b"authorization", b"cookie", b"x-forwarded-for", b"content-length", b"origin",
     b"x-csrf-token", b"accept", b"x-user-id", b"connection", b"te"]
)  # fmt: skip
_VALUES = st.sampled_from([b"", b"a", b"Bearer x", b"12", b"-1", b"h:1"])


@settings(max_examples=400, deadline=None)
@given(raw=st.lists(st.tuples(_NAMES, _VALUES), max_size=8))
def test_sanitize_takes_fields_like_take(raw: list[tuple[bytes, bytes]]) -> None:
    """Authorization and Host, taken inline, end up as ``_take`` leaves them."""
    fields = ("authorization", "host", "cookie", "content_length", "xff", "origin", "csrf")

    def general() -> tuple[object, ...]:
        out = InboundHeaders()
        for name, value in raw:
            if name in _TAKEN:
                _take(out, name, value)
        return tuple(getattr(out, f) for f in fields)

    def fast() -> tuple[object, ...]:
        out = sanitize(raw, frozenset(), 1 << 20)
        return tuple(getattr(out, f) for f in fields)

    assert _outcome(fast) == _outcome(general)


_UNDERSCORED = st.sampled_from(
    [b"x_user_id", b"x_auth_z", b"x_trace", b"accept_", b"_", b"te_", b"x-user_id", b"connect_ion",
     b"x_forwarded_for", b"x_custom", b"accept", b"x-trace", b"x-custom"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(raw=st.lists(st.tuples(_UNDERSCORED, _VALUES), max_size=6))
def test_sanitize_drops_underscore_aliases_of_controlled_names(
    raw: list[tuple[bytes, bytes]],
) -> None:
    """A name is kept unless it, or its ``-`` spelling, is one this stage controls."""
    strip = frozenset({b"x-custom"})
    controlled = strip | _TAKEN | HOP_BY_HOP
    kept = [
        (n, v)
        for n, v in raw
        if (dashed := n.replace(b"_", b"-")) not in controlled
        and not dashed.startswith(ALWAYS_STRIPPED_PREFIXES)
    ]
    assert sanitize(raw, strip, 1 << 20).headers == kept


_CONNECTION_VALUES = st.sampled_from(
    [b"keep-alive", b"Keep-Alive", b"close", b"CLOSE", b"", b"accept", b"Accept, close",
     b"keep-alive, x-trace", b" x-trace ", b"close,keep-alive", b",", b"te"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(_CONNECTION_VALUES, max_size=3),
    others=st.lists(st.sampled_from([b"accept", b"x-trace", b"x-other"]), max_size=3),
)
def test_sanitize_drops_what_connection_names(values: list[bytes], others: list[bytes]) -> None:
    """RFC 9110 section 7.6.1: every field a Connection value names, and no other."""
    raw = [(b"connection", v) for v in values] + [(n, b"1") for n in others]
    named = {t.strip().lower() for v in values for t in v.split(b",")}
    kept = [(n, v) for n, v in raw if n != b"connection" and n not in named]
    assert sanitize(raw, frozenset(), 1 << 20).headers == kept


# ---------------------------------------------------------------- authorize


def _set_ok(
    have: frozenset[str], any_of: frozenset[str] | None, all_of: frozenset[str] | None
) -> bool:
    # The specification: at least one of any_of, every one of all_of.
    return (any_of is None or bool(have & any_of)) and (all_of is None or all_of <= have)


_SETS = st.frozensets(st.sampled_from(["a", "b", "c"]))


@settings(max_examples=300, deadline=None)
@given(
    scopes=_SETS, roles=_SETS,
    rules=st.tuples(*[st.none() | st.frozensets(st.sampled_from(["a", "b", "c"]), min_size=1)] * 4),
)  # fmt: skip
def test_authorize_matches_the_set_rules(
    scopes: frozenset[str], roles: frozenset[str], rules: tuple[frozenset[str] | None, ...]
) -> None:
    route = replace(
        _HEADER_ROUTE,
        scopes_any=rules[0],
        scopes_all=rules[1],
        roles_any=rules[2],
        roles_all=rules[3],
    )
    token = _token("s", {}, scopes=scopes, roles=roles)
    if not _set_ok(scopes, rules[0], rules[1]):
        expected: str | None = "insufficient_scope"
    elif not _set_ok(roles, rules[2], rules[3]):
        expected = "insufficient_role"
    else:
        expected = None
    try:
        authorize(route, token)
        reason = None
    except InsufficientScope as exc:
        reason = exc.reason
    assert reason == expected


# ---------------------------------------------------------------- rate limit


class _Recording(MemoryRateLimiter):
    __slots__ = ("keys",)

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []

    def take(self, key: str, rate: float, burst: int, now: float | None = None) -> float:
        self.keys.append(key)
        return super().take(key, rate, burst, now)


_LIMITED = [
    _route(", rate_limit: {key: subject, rate: 10, burst: 1}"),
    _route(", rate_limit: {key: 'claim:tenant', rate: 10, burst: 1}"),
    _route(", rate_limit: {key: ip, rate: 10, burst: 1}"),
]


@pytest.mark.parametrize("route", _LIMITED, ids=["subject", "claim", "ip"])
@pytest.mark.parametrize("subject", [None, "", "alice", "a|b"])
@pytest.mark.parametrize("anonymous", [False, True])
def test_check_rate_now_charges_the_key_bucket(
    route: CompiledRoute, subject: str | None, anonymous: bool
) -> None:
    token = None if anonymous else _token(subject, {"tenant": "t1"})
    limiter = _Recording()
    check_rate_now(limiter, route, token, "10.0.0.1")
    with pytest.raises(RateLimited):  # burst 1: the same bucket is now empty
        check_rate_now(limiter, route, token, "10.0.0.1")
    assert limiter.keys == [_key(route, token, "10.0.0.1")] * 2


def test_subject_keys_are_remembered_within_a_bound() -> None:
    """Keys come from a table that is emptied when full, never a stale or wrong one."""
    route, limiter = _LIMITED[0], _Recording()
    subjects = [f"user-{i % 5000}" for i in range(2 * _SUBJECT_KEYS_MAX + 100)]
    for subject in subjects:
        with contextlib.suppress(RateLimited):  # burst 1: a subject seen again is refused
            check_rate_now(limiter, route, _token(subject, {}), "10.0.0.1")
    assert limiter.keys == [f"{route.name}|sub|{subject}" for subject in subjects]
    assert len(_SUBJECT_KEYS[route.name]) <= _SUBJECT_KEYS_MAX


# ---------------------------------------------------------------- request head


def _request_head_loop(
    method: str, target: bytes, host: bytes, headers: list[tuple[bytes, bytes]]
) -> bytes:
    # request_head as a Python loop over the fields, before it joined them in C.
    parts = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    for name, value in headers:
        if name != b"expect":
            parts += (name, b": ", value, b"\r\n")
    return b"".join(parts)


_FIELD_NAMES = st.sampled_from(
    [b"expect", b"x-expect", b"expected", b"accept", b"x-user-id", b"e", b"xexpect"]
)
_FIELD_VALUES = st.sampled_from([b"", b"1", b"expect: 1", b"a\texpect:", b"100-continue"])


@settings(max_examples=400, deadline=None)
@given(headers=st.lists(st.tuples(_FIELD_NAMES, _FIELD_VALUES), max_size=6))
def test_request_head_writes_what_the_field_loop_wrote(headers: list[tuple[bytes, bytes]]) -> None:
    args = ("GET", b"/p?q", b"up:80")
    assert request_head(*args, headers) == _request_head_loop(*args, headers)


# ---------------------------------------------------------------- token cache


def test_token_cache_answers_as_the_check_and_stays_bounded() -> None:
    inbound = InboundHeaders()
    for i in range(_TOKENS_MAX + 10):
        inbound.authorization = [b"Bearer t%d==" % i]
        first = extract(_HEADER_ROUTE, inbound, b"").token
        again = extract(_HEADER_ROUTE, inbound, b"").token  # from the cache
        assert first == again == f"t{i}=="
        assert len(_TOKENS) <= _TOKENS_MAX
    inbound.authorization = [b"Bearer a b"]  # refused, and never cached
    with pytest.raises(JwtGateError):
        extract(_HEADER_ROUTE, inbound, b"")
    assert b"Bearer a b" not in _TOKENS


def test_token_cache_keeps_no_long_values() -> None:
    inbound = InboundHeaders()
    token = "a" * _TOKENS_VALUE_MAX
    inbound.authorization = [b"Bearer " + token.encode()]
    assert extract(_HEADER_ROUTE, inbound, b"").token == token
    assert inbound.authorization[0] not in _TOKENS  # checked again next time, not kept
    short = b"Bearer " + b"a" * (_TOKENS_VALUE_MAX - 7)
    inbound.authorization = [short]
    assert extract(_HEADER_ROUTE, inbound, b"").token == short[7:].decode()
    assert short in _TOKENS


def test_authorizes_follows_the_rules_of_a_replaced_route() -> None:
    assert not _HEADER_ROUTE.authorizes
    assert replace(_HEADER_ROUTE, roles_all=frozenset({"a"})).authorizes
    assert replace(_HEADER_ROUTE, claims=(("tenant", "t"),)).authorizes
    assert _route(", require: {scopes: {any_of: [read]}}").authorizes


def test_request_ids_keep_their_shape_and_count_up() -> None:
    ids = REQUEST_IDS.ids
    first, second = next(ids), next(ids)
    assert re.fullmatch(rb"[0-9a-f]{16,}", first)
    assert first[:10] == second[:10] == REQUEST_IDS._prefix  # the per-process prefix
    assert int(second[10:], 16) == int(first[10:], 16) + 1
    assert second == b"%b%06x" % (REQUEST_IDS._prefix, int(second[10:], 16))
