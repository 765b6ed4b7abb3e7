"""The codec's fast paths against slow, obvious references.

* :func:`b64url_decode` (pybase64 plus a padding/trailing-bits table) against
  "stdlib decode, then re-encode and compare", exhaustively for short
  segments and by hypothesis for long ones.
* :func:`parse_json_object`'s plain-scanner path, whose duplicate-member
  proof counts colons, against the strict ``object_pairs_hook`` path: the
  same dict or the same exception class for every input, including inputs
  built to fool a colon count (escaped colons, colons in keys, nesting).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.errors import BadBase64Url, TokenError
from jwtgate.jose import _codec
from jwtgate.jose._codec import b64url_decode, b64url_encode, parse_json_object

_URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def reference_b64url(segment: str) -> bytes | None:
    """Canonical unpadded base64url by decode-and-re-encode (RFC 7515 section 2)."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, binascii.Error):
        return None
    return data if b64url_encode(data) == segment else None


def ours_b64url(segment: str) -> bytes | None:
    try:
        return b64url_decode(segment)
    except BadBase64Url:
        return None


# Every URL-safe character plus everything a sloppy decoder might take.
_EXTRA = "+/=. \t\r\n\x00\x7f\u00e9\u0100\ud800"
_ALPHABET = _URL + _EXTRA


@pytest.mark.parametrize("length", [0, 1, 2])
def test_b64url_exhaustive_short(length: int) -> None:
    for chars in itertools.product(_ALPHABET, repeat=length):
        seg = "".join(chars)
        assert ours_b64url(seg) == reference_b64url(seg), repr(seg)


@pytest.mark.parametrize("prefix", ["", "A", "AA", "AAA", "AAAA", "QUJD", "QUJDRA"])
def test_b64url_every_last_character(prefix: str) -> None:
    """The trailing-bits table: every possible final character after every length."""
    for last in _ALPHABET:
        for tail in ("", "A"):
            seg = prefix + last + tail
            assert ours_b64url(seg) == reference_b64url(seg), repr(seg)


@settings(max_examples=3000, deadline=None, database=None)
@given(
    st.binary(max_size=300),
    st.lists(st.tuples(st.integers(0, 500), st.sampled_from(list(_EXTRA + "AQgw_-")))),
    st.integers(0, 3),
)
def test_b64url_matches_reference(data: bytes, edits: list[tuple[int, str]], cut: int) -> None:
    seg = b64url_encode(data)
    assert ours_b64url(seg) == data
    for pos, ch in edits:
        pos %= len(seg) + 1
        seg = seg[:pos] + ch + seg[pos + 1 :]
    seg = seg[: len(seg) - cut] if cut <= len(seg) else seg
    assert ours_b64url(seg) == reference_b64url(seg), repr(seg)


# ----------------------------------------------------------------- JSON
def strict_outcome(raw: bytes) -> tuple[str, Any]:
    """The strict hook path's decision, bypassing the fast path."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ("error", "InvalidUtf8")
    try:
        return ("ok", _codec._parse_strict(text))
    except TokenError as exc:
        return ("error", type(exc).__name__)


def fast_outcome(raw: bytes) -> tuple[str, Any]:
    try:
        return ("ok", parse_json_object(raw))
    except TokenError as exc:
        return ("error", type(exc).__name__)


def assert_same(raw: bytes) -> None:
    fast, strict = fast_outcome(raw), strict_outcome(raw)
    assert fast == strict, raw
    if fast[0] == "ok":  # same members in the same order, not just equal
        assert list(fast[1].items()) == list(strict[1].items()), raw


FOOLING = [
    # duplicates whose lost value carried the colon the count would miss
    b'{"a":1,"a":"\\u003a"}',
    b'{"a":"\\u003a","a":1}',
    b'{"a":":","a":1}',
    b'{"a":1,"a":":"}',
    b'{"iss":"https://x","iss":"y"}',
    b'{"iss":"y","iss":"https://x"}',
    b'{"iss":"a:b","x":1,"x":":"}',
    b'{"a:b":1,"a:b":2}',
    b'{"k":["a:b"],"k":[":"]}',
    b'{"k":[["a"]],"k":1}',
    b'{"o":{"a":1,"a":2}}',
    b'{"o":{"a":1},"o":{"b":2}}',
    b'{"l":[{"a":1,"a":2}]}',
    b'{"a" : 1 , "a" : 2}',
    b'{"a":1,"b":"{","a":2}',
    b'{"a":"\\":","a":1}',
    b'{"a":1,"a":2,"b":"::"}',
    b'{"iss":"::","a":1,"a":2}',
    # NaN ordering: the inner duplicate is found first on the strict path
    b'{"a":{"b":1,"b":2},"c":NaN}',
    b'{"c":NaN,"a":{"b":1,"b":2}}',
    b'{"a":Infinity}',
    # not objects, whitespace, BOM, junk
    b"[]",
    b'"x"',
    b" {}",
    b"{} ",
    b"\xef\xbb\xbf{}",
    b"{}x",
    b"",
    b'{"a":"\\ud800"}',
    b'{"a":"\xed\xa0\x80"}',
    b'{"a":"\\ud83d\\ude00"}',
    b'{"iss":"https://issuer.test","n":1e400,"big":100000000000000000000}',
]


@pytest.mark.parametrize("raw", FOOLING)
def test_json_fast_path_matches_strict(raw: bytes) -> None:
    assert_same(raw)


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://issuer.test", "sub": "a", "aud": ["x", "y"], "exp": 1, "roles": ["r"]},
        {"iss": "x", "scope": "read:a write:b", "aud": ["urn:a:b"], "o": {}},
        {},
    ],
)
def test_json_fast_path_is_taken_for_plain_payloads(
    claims: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the optimisation itself: ordinary payloads never need the hook."""

    def strict_not_expected(text: str) -> dict[str, Any]:
        raise AssertionError(text)

    monkeypatch.setattr(_codec, "_parse_strict", strict_not_expected)
    payload = json.dumps(claims, separators=(",", ":")).encode()
    assert parse_json_object(payload) == claims


_KEYS = st.sampled_from(["a", "b", "iss", "a:b", ":", "{", "x"])
_STRS = st.sampled_from(["", ":", "a:b", "https://h", "{", "}", "\\u003a", '\\"', "\\\\", "z"])
_LEAF = st.one_of(
    _STRS.map(lambda s: f'"{s}"'),
    st.sampled_from(["1", "-2.5", "true", "null", "NaN", "1e400"]),
)


@st.composite
def json_texts(draw: st.DrawFn, depth: int = 0) -> str:
    """Object texts with repeats, colons and escapes placed to stress the proof."""
    members = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 9)) if depth < 2 else 0
        if kind == 8:
            value = draw(json_texts(depth + 1))
        elif kind == 9:
            items = draw(st.lists(st.one_of(_LEAF, json_texts(depth + 1)), max_size=3))
            value = "[" + ",".join(items) + "]"
        else:
            value = draw(_LEAF)
        space = draw(st.sampled_from(["", " "]))
        members.append(f'"{draw(_KEYS)}"{space}:{space}{value}')
    return "{" + ",".join(members) + "}"


@settings(max_examples=4000, deadline=None, database=None)
@given(json_texts())
def test_json_fast_path_matches_strict_generated(text: str) -> None:
    assert_same(text.encode("utf-8"))


@settings(max_examples=2000, deadline=None, database=None)
@given(
    st.dictionaries(
        st.text(max_size=4),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
            max_leaves=6,
        ),
        max_size=6,
    ),
    st.lists(st.tuples(st.integers(0, 400), st.sampled_from(list(':,{}"\\[] '))), max_size=3),
)
def test_json_fast_path_matches_strict_mutated(obj: dict[str, Any], edits: Any) -> None:
    text = json.dumps(obj, ensure_ascii=False)
    for pos, ch in edits:
        pos %= len(text) + 1
        text = text[:pos] + ch + text[pos:]
    assert_same(text.encode("utf-8", "surrogatepass"))
