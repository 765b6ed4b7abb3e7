"""Strict base64url and JSON decoding for JOSE compact serialization.

RFC 7515 section 2 defines base64url *without padding*; RFC 7515 section 5.2
and RFC 7519 section 7.2 require the decoder to refuse anything else. We accept
a segment only if re-encoding the decoded bytes gives back the same text, which
rules out padding, whitespace, the standard alphabet (``+``/``/``) and
non-zero trailing bits (the malleability behind Wycheproof "ModifiedUnusedBits").
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import orjson
import pybase64

from jwtgate.errors import BadBase64Url, DuplicateMember, InvalidUtf8, MalformedToken, NotAnObject

__all__ = ["b64url_decode", "b64url_encode", "json_dumps", "orjson_keys", "parse_json_object"]

_URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The padding a segment needs, keyed by its length mod 4 and then by its last
# character.  A segment whose length is 2 or 3 mod 4 ends in a character that
# carries 4 or 2 unused bits, which must be zero (RFC 4648 section 3.5,
# canonical encoding), so only those last characters are keys; 1 mod 4 is never
# a valid length.  A missing key means "not canonical".
_PADS: tuple[dict[str, str], ...] = (
    {c: "" for c in _URL_ALPHABET} | {"": ""},
    {},
    dict.fromkeys("AQgw", "=="),
    dict.fromkeys("AEIMQUYcgkosw048", "="),
)
_b64decode = pybase64.b64decode


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Decode one canonical unpadded base64url segment or raise :class:`BadBase64Url`.

    Equivalent to "decode, re-encode, compare", without the re-encode: the
    trailing bits and the length are checked by :data:`_PADS`, ``+``, ``/``
    and ``=`` are refused here, and everything else outside ``A-Za-z0-9-_``
    (whitespace, non-ASCII) by pybase64's validating decoder, which with
    ``altchars`` would otherwise still take ``+`` and ``/``.
    """
    pad = _PADS[len(segment) & 3].get(segment[-1:])
    if pad is None or "+" in segment or "/" in segment or "=" in segment:
        raise BadBase64Url()
    try:
        return _b64decode(segment + pad, b"-_", True)
    except ValueError as exc:  # binascii.Error, or a non-ASCII str
        raise BadBase64Url() from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 section 5.2 step 4 / RFC 7519 section 4: duplicate member names
    # MUST be rejected; json.loads would silently keep the last one, which lets
    # two parsers disagree about the same token.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise DuplicateMember()
    return obj


def _reject_constant(name: str) -> Any:
    # NaN / Infinity are not JSON (RFC 8259 section 6); Python accepts them by default.
    raise MalformedToken("the token header or payload is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]

# The fast path parses with orjson, whose result is used only where it provably
# equals the strict decoder's (see parse_json_object).  orjson itself refuses
# invalid UTF-8 (encoded surrogates included), a BOM, NaN/Infinity, control
# characters in strings, trailing data and numbers that overflow a double, and
# takes the same four whitespace characters.  It differs in three ways: it
# keeps the last of repeated member names (RFC 7515 section 5.2 requires a
# refusal), it turns an integer outside [-2**63, 2**64) into a float, and it
# nests to depth 1023, deeper than the stdlib scanner, whose limit depends on
# the caller's stack.
_loads = orjson.loads
_dumps = orjson.dumps
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_NUMBER = b"0" * 19
_SHALLOW_BYTES = 512
_MAX_BRACKETS = 256
_BACKSLASH, _COLON = ord("\\"), ord(":")


def _string_colons(obj: dict[str, Any]) -> int:
    """Colons in some of the strings of ``obj``: its keys, string values and list items."""
    found = "".join(obj).count(":")
    for value in obj.values():
        if type(value) is str:
            found += value.count(":")
        elif type(value) is list:
            for item in value:
                if type(item) is str:
                    found += item.count(":")
    return found


def _unrepeated(raw: bytes, obj: dict[str, Any]) -> bool:
    """True if orjson's ``obj`` for a non-canonical ``raw`` is provably the strict result.

    Integers of 19 or more digits (every one orjson turns into a float has
    that many) and texts that could nest deeper than 256 (longer than 512
    bytes, with 256 or more brackets) are left to the strict path.  The
    duplicate proof needs a text without escapes (so also without surrogate
    escapes), in which every string literal's text is its value.  Outside
    literals each member has exactly one ":", so
      raw.count(":") = members + colons inside literals
                    >= members + colons of any literals that survived.
    The object has len(obj) distinct keys and members >= len(obj), so if the
    colons of some surviving strings make up the difference ("extra"),
    members == len(obj): nothing repeats, at any depth (a nested member
    would be one more).
    """
    if (
        _BACKSLASH in raw
        or raw.translate(_DIGITS_AS_ZERO).find(_LONG_NUMBER) >= 0
        or (len(raw) > _SHALLOW_BYTES and raw.count(b"[") + raw.count(b"{") >= _MAX_BRACKETS)
    ):
        return False
    extra = raw.count(_COLON) - len(obj)
    if not extra:
        return True
    # RFC 7519 section 4.1.1: the issuer, usually a URL, holds the usual
    # colon; count it alone before counting every string.
    iss = obj.get("iss")
    return (type(iss) is str and iss.count(":") == extra) or _string_colons(obj) == extra


def orjson_keys(*names: str) -> tuple[str, ...]:
    """The string objects orjson hands out as these member names.

    orjson keeps recently seen member names in a small cache and returns the
    same ``str`` object for each occurrence, and the dicts it builds look
    keys up by identity before comparing.  Looking a claim up with the very
    object orjson uses skips a string comparison per lookup; if the cache
    has moved on, lookups compare by value, as with any other string.
    """
    return tuple(_loads(_dumps(dict.fromkeys(names, 0))))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse UTF-8 JSON bytes that must hold one object, strictly.

    Refuses invalid UTF-8 (including encoded surrogates), a BOM, duplicate
    member names at any depth, ``NaN``/``Infinity`` and non-object values.
    ``\\ud800``-style escapes of lone surrogates are refused too, because the
    resulting string cannot be re-encoded as UTF-8 (RFC 8259 section 8.2).
    """
    try:
        obj = _loads(raw)
    except ValueError:
        pass  # the strict path below raises the precise error, in its order
    else:
        if type(obj) is dict:
            # Fast path 1, compact JSON as issuers write it: if orjson writes
            # the parsed object back as exactly ``raw``, then ``raw`` has no
            # repeated member (a dict has none to write), no integer turned
            # float (a float is written with "." or "e"), no whitespace and
            # nests at most 255 deep (orjson writes no deeper); and the stdlib
            # reads back what orjson wrote (shortest round-trip floats, plain
            # escapes), so the strict path would return this same object.
            try:
                if _dumps(obj) == raw:
                    return obj
            except TypeError:  # orjson.JSONEncodeError: too deep to write
                pass
            # Fast path 2, any other text that passes the guards and the proof.
            if _unrepeated(raw, obj):
                return obj
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUtf8() from exc
    return _parse_strict(text)


def _parse_strict(text: str) -> dict[str, Any]:
    try:
        # The C scanner straight from offset 0 (no whitespace handling);
        # anything unusual goes through the full decoder.
        try:
            obj, end = _SCAN(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):
            obj = _DECODER.decode(text)
    except MalformedToken:
        raise
    except (ValueError, RecursionError) as exc:
        raise MalformedToken("the token header or payload is not valid JSON") from exc
    if type(obj) is not dict:
        raise NotAnObject()
    if "\\u" in text and _has_lone_surrogate(obj):
        raise InvalidUtf8("the token contains an unpaired surrogate escape")
    return obj


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def json_dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON as jwtgate emits it (no spaces, no NaN)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )
