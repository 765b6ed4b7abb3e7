"""``parse_token``'s fast path against its strict path, on honest and mangled tokens.

The fast path (cached header, pybase64 on the other two segments) must return
exactly what the strict path returns, or hand over to it so that the same
error class comes out.  Every case is checked twice, so that the second run
meets a warm header cache.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.errors import TokenError
from jwtgate.jose import generate_key, jws
from jwtgate.jose._codec import b64url_encode, json_dumps
from jwtgate.jose.jws import parse_parts, parse_token

KEY = generate_key("ES256")
HEADER = {"typ": "at+jwt", "alg": "ES256", "kid": KEY.kid}
CLAIMS = {"iss": "https://issuer.test", "sub": "alice", "aud": "api", "exp": 2, "iat": 1}


def _token(header: dict[str, Any] = HEADER, payload: bytes = json_dumps(CLAIMS)) -> str:
    signing_input = b64url_encode(json_dumps(header)) + "." + b64url_encode(payload)
    return signing_input + "." + b64url_encode(KEY.sign(signing_input.encode()))


def _outcome(parse: Any, token: Any, max_bytes: int = 8192) -> tuple[str, Any]:
    try:
        return ("ok", parse(token, max_bytes))
    except TokenError as exc:
        return ("error", type(exc).__name__)


def assert_same(token: Any, max_bytes: int = 8192) -> None:
    for _ in range(2):  # cold, then warm header cache
        assert _outcome(parse_token, token, max_bytes) == _outcome(
            jws._parse_strict, token, max_bytes
        ), repr(token)


GOOD = _token()
HEAD, BODY, SIG = GOOD.split(".")


@pytest.mark.parametrize(
    "token",
    [
        GOOD,
        GOOD + ".",
        GOOD + ".x",
        HEAD + "." + BODY,
        HEAD + "." + BODY + ".",
        HEAD + ".." + SIG,
        HEAD,
        "",
        ".",
        "..",
        "...",
        # the fast path splits at the last dot, then the first: extra dots
        # anywhere must still reach the strict path's error
        HEAD + "." + BODY + "." + SIG + "." + SIG,
        HEAD + "." + BODY + ".." + SIG,
        HEAD + ".." + BODY + "." + SIG,
        HEAD + "." + BODY[:8] + "." + BODY[8:] + "." + SIG,
        "." + BODY + "." + SIG,
        HEAD + "." + BODY + "=." + SIG,
        HEAD + "." + BODY + "." + SIG + "=",
        HEAD + "." + BODY + "." + SIG[:-1] + "B",
        HEAD + "." + BODY + "A." + SIG,
        HEAD + "." + BODY.replace("e", "+", 1) + "." + SIG,
        HEAD + "." + BODY + "." + SIG.replace("A", "/", 1),
        HEAD + "." + BODY + " ." + SIG,
        HEAD + "." + BODY + "." + SIG + "\n",
        HEAD + "." + BODY + "." + SIG + "\u00e9",
        HEAD + "." + "\u00e9" + BODY + "." + SIG,
        " " + GOOD,
        '{"payload":"x"}',
        _token({"alg": "none"}),
        _token({"alg": "none"}).split(".")[0] + "." + BODY + "\u00e9." + SIG,
        _token(payload=b"[]"),
        _token(payload=b'{"a":1,"a":2}'),
        b"not a str",
        None,
    ],
)
def test_fast_path_matches_strict(token: Any) -> None:
    assert_same(token)


def test_size_limit_is_the_strict_one() -> None:
    assert_same(GOOD, max_bytes=len(GOOD))
    assert_same(GOOD, max_bytes=len(GOOD) - 1)


def test_fast_path_returns_the_strict_values() -> None:
    info, payload, signing_input, signature = parse_token(GOOD, 8192)
    assert dict(info[0]) == HEADER
    assert info[1:] == ("ES256", KEY.kid, "at+jwt")
    assert signing_input == f"{HEAD}.{BODY}".encode()
    assert payload == json_dumps(CLAIMS)
    assert parse_parts(GOOD, 8192) == (info[0], payload, signing_input, signature)


@settings(max_examples=3000, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 400),
            st.sampled_from(["replace", "insert", "delete"]),
            st.sampled_from([*"AQgwEI048_-+/=. ?\n\t", "\u00e9", "\ud800", "{"]),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_fast_path_matches_strict_on_mangled_tokens(edits: list[tuple[int, str, str]]) -> None:
    token = GOOD
    for pos, op, ch in edits:
        pos %= len(token) + 1
        if op == "replace":
            token = token[:pos] + ch + token[pos + 1 :]
        elif op == "insert":
            token = token[:pos] + ch + token[pos:]
        else:
            token = token[:pos] + token[pos + 1 :]
    assert_same(token)
