"""The codec's fast paths against slow, obvious references.

* :func:`b64url_decode` (pybase64 plus a padding/trailing-bits table) against
  "stdlib decode, then re-encode and compare", exhaustively for short
  segments and by hypothesis for long ones.
* :func:`parse_json_object`'s orjson paths (text that orjson writes back
  unchanged; otherwise a duplicate-member proof that counts colons) against
  the strict ``object_pairs_hook`` path: the same dict or the same exception
  class for every input, including inputs built to fool a colon count
  (escaped colons, colons in keys, nesting) and every place where orjson and
  the stdlib decoder are known to differ (integers beyond 64 bits, 1e400,
  nesting depth, BOM, control characters, whitespace).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from typing import Any

import orjson
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

# Where orjson and the stdlib decoder differ, or might: each must come out
# exactly as the strict path decides.
_INT_EDGES = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**18, 10**19, 10**30]
DISAGREEMENTS = [
    # orjson turns integers outside [-2**63, 2**64) into floats
    *(b'{"n":%d}' % n for n in _INT_EDGES),
    *(b'{"l":[1,%d]}' % n for n in _INT_EDGES),
    *(b'{"o":{"n":%d}}' % n for n in _INT_EDGES),
    b'{"n":123456789012345678}',
    b'{"s":"1234567890123456789012"}',
    b'{"f":0.12345678901234567890123}',
    # orjson refuses what the stdlib turns into inf; tiny values, signed zeros
    b'{"f":1e400}',
    b'{"f":-1e400}',
    b'{"f":1e-400}',
    b'{"f":-0}',
    b'{"f":-0.0}',
    b'{"f":0e0}',
    b'{"f":-0e0}',
    b'{"f":2.2250738585072011e-308}',
    b'{"f":4.9e-324}',
    b'{"f":1.7976931348623157e308}',
    b'{"f":1.7976931348623159e308}',
    b'{"f":0.1,"g":1E5,"h":1e+2,"i":1.5e-3}',
    # not numbers in JSON
    b'{"f":NaN}',
    b'{"f":-Infinity}',
    b'{"f":nan}',
    b'{"f":01}',
    b'{"f":1.}',
    b'{"f":.5}',
    b'{"f":+1}',
    b'{"f":0x10}',
    b'{"f":1e}',
    b'{"f":-}',
    # control characters, which strict JSON refuses raw inside strings
    b'{"s":"\x00"}',
    b'{"s":"\t"}',
    b'{"s":"\n"}',
    b'{"s":"\x1f"}',
    b'{"s":"\x7f"}',
    b'{"\x01":1}',
    # whitespace: only space, tab, CR and LF are JSON whitespace
    b' \t\r\n{"a":1} \t\r\n',
    b'{ "a" \n:\r 1 \t}',
    b"\x0b{}",
    b"{}\x0c",
    b'{"a":\xc2\xa01}',
    b"\x00{}",
    # trailing data and other top levels
    b"{}\x00",
    b"{}{}",
    b'{"a":1}]',
    b"{",
    b"[1,2]",
    b"1",
    b"true",
    b"null",
    b'""',
    b" ",
    # UTF-8: BOM, overlong, encoded surrogates, beyond U+10FFFF, truncated, valid
    b'\xef\xbb\xbf{"a":1}',
    b'{"a":"\xef\xbb\xbf"}',
    b'{"a":"\xc0\x80"}',
    b'{"a":"\xed\xb0\x80"}',
    b'{"a":"\xf4\x90\x80\x80"}',
    b'{"a":"\xe2\x82"}',
    b'{"a":"\xff"}',
    b'{"\xf0\x9f\x98\x80":"\xef\xbf\xbf\xe2\x80\xa8"}',
    # literals
    b'{"a":True}',
    b'{"a":tru}',
    b'{"a":[true,false,null]}',
    # trailing commas
    b'{"a":1,}',
    b'{"a":[1,]}',
]


@pytest.mark.parametrize("raw", DISAGREEMENTS)
def test_json_fast_path_matches_strict_where_orjson_differs(raw: bytes) -> None:
    assert_same(raw)


@pytest.mark.parametrize("depth", [100, 254, 300, 900, 990, 1000, 1023, 1024, 2000, 4000])
@pytest.mark.parametrize("bracket", [b"[", b'{"k":'])
def test_json_fast_path_matches_strict_deep_nesting(depth: int, bracket: bytes) -> None:
    """orjson nests to 1023, the stdlib to its recursion limit: the strict path decides."""
    close = b"]" if bracket == b"[" else b"}"
    assert_same(b'{"a":' + bracket * depth + b"1" + close * depth + b"}")


def test_json_big_integers_keep_their_exact_value() -> None:
    """A float from orjson for an integer beyond 64 bits would change the claim."""
    for n in _INT_EDGES:
        value = parse_json_object(b'{"n":%d}' % n)["n"]
        assert type(value) is int
        assert value == n


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


@pytest.mark.parametrize(
    "claims",
    [
        {"s": 'quote " backslash \\ newline \n tab \t nul \x00 del \x7f', "e": "\u00e9\U0001f600"},
        {"f": [0.1, -0.0, 1e-7, 1e22, 5e-324, 1.7976931348623157e308], "n": [2**63 - 1, -(2**63)]},
        {"o": {"p": {"q": [[], {}, [None, True, False]]}}, "u": "\u2028\ufeff"},
    ],
)
def test_json_canonical_path_is_taken_for_orjson_text(
    claims: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text that orjson writes back unchanged needs neither the proof nor the strict path."""

    def not_expected(*args: Any) -> Any:
        raise AssertionError(args)

    raw = orjson.dumps(claims)
    expected = strict_outcome(raw)
    monkeypatch.setattr(_codec, "_parse_strict", not_expected)
    monkeypatch.setattr(_codec, "_unrepeated", not_expected)
    assert ("ok", parse_json_object(raw)) == expected
    assert list(parse_json_object(raw).items()) == list(expected[1].items())


_ORJSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@settings(max_examples=2000, deadline=None, database=None)
@given(
    st.dictionaries(st.text(max_size=4), _ORJSON_VALUES, max_size=6),
    st.lists(st.tuples(st.integers(0, 400), st.sampled_from(list(':,{}"\\[] 0.e'))), max_size=2),
)
def test_json_fast_path_matches_strict_on_orjson_text(obj: dict[str, Any], edits: Any) -> None:
    """orjson's own output (the canonical path), then the same text mangled."""
    raw = orjson.dumps(obj)
    assert_same(raw)
    for pos, ch in edits:
        pos %= len(raw) + 1
        raw = raw[:pos] + ch.encode() + raw[pos:]
    assert_same(raw)


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


_DIGITS = st.text("0123456789", min_size=1, max_size=25)
_NUMBERS = st.builds(
    lambda sign, whole, frac, exp: sign + whole + frac + exp,
    st.sampled_from(["", "-", "+"]),
    st.one_of(_DIGITS, st.just("")),
    st.one_of(st.just(""), _DIGITS.map(lambda d: "." + d), st.just(".")),
    st.one_of(
        st.just(""),
        st.builds(
            lambda e, sign, d: e + sign + d,
            st.sampled_from(["e", "E"]),
            st.sampled_from(["", "+", "-"]),
            st.one_of(st.text("0123456789", max_size=4), st.sampled_from(["308", "309", "400"])),
        ),
    ),
)


@settings(max_examples=3000, deadline=None, database=None)
@given(st.lists(_NUMBERS, min_size=1, max_size=3))
def test_json_fast_path_matches_strict_numbers(numbers: list[str]) -> None:
    """Number literals, valid and not: same value (int or float) or same error."""
    assert_same(('{"a":' + numbers[0] + "}").encode())
    assert_same(('{"l":[' + ",".join(numbers) + "]}").encode())


# Objects as Python holds them: any integer, NaN and infinities, any text.
_PY_OBJECTS = st.dictionaries(
    st.text(max_size=4),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=6,
    ),
    max_size=6,
)


@settings(max_examples=2000, deadline=None, database=None)
@given(_PY_OBJECTS)
def test_json_fast_path_matches_strict_serialised(obj: dict[str, Any]) -> None:
    """Whatever json.dumps writes (big integers, NaN, any text), unmutated."""
    assert_same(json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    assert_same(json.dumps(obj, separators=(",", ":")).encode())


@settings(max_examples=2000, deadline=None, database=None)
@given(st.binary(max_size=40), st.sampled_from([b"", b"{", b'{"a":', b'{"a":"']))
def test_json_fast_path_matches_strict_bytes(junk: bytes, prefix: bytes) -> None:
    """Arbitrary bytes, including invalid UTF-8, after a plausible start."""
    assert_same(prefix + junk)
    assert_same(prefix + junk + b'"}')


@settings(max_examples=2000, deadline=None, database=None)
@given(
    _PY_OBJECTS,
    st.lists(st.tuples(st.integers(0, 400), st.sampled_from(list(':,{}"\\[] '))), max_size=3),
)
def test_json_fast_path_matches_strict_mutated(obj: dict[str, Any], edits: Any) -> None:
    text = json.dumps(obj, ensure_ascii=False)
    for pos, ch in edits:
        pos %= len(text) + 1
        text = text[:pos] + ch + text[pos:]
    assert_same(text.encode("utf-8", "surrogatepass"))
