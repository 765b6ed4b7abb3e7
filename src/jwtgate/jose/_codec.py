"""Strict base64url and JSON decoding for JOSE compact serialization.

RFC 7515 section 2 defines base64url *without padding*; RFC 7515 section 5.2
and RFC 7519 section 7.2 require the decoder to refuse anything else. We accept
a segment only if re-encoding the decoded bytes gives back the same text, which
rules out padding, whitespace, the standard alphabet (``+``/``/``) and
non-zero trailing bits (the malleability behind Wycheproof "ModifiedUnusedBits").
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from jwtgate.errors import BadBase64Url, DuplicateMember, InvalidUtf8, MalformedToken, NotAnObject

__all__ = ["b64url_decode", "b64url_encode", "json_dumps", "parse_json_object"]

# Map the URL-safe alphabet to the standard one and everything that must not
# appear ("+", "/", "=") to a character strict a2b_base64 refuses.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
# For a segment whose length is 2 or 3 mod 4 the last character carries 4 or 2
# unused bits, which must be zero (RFC 4648 section 3.5, canonical encoding).
_LAST_OK_2 = frozenset("AQgw")
_LAST_OK_3 = frozenset("AEIMQUYcgkosw048")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Decode one canonical unpadded base64url segment or raise :class:`BadBase64Url`.

    Equivalent to "decode, re-encode, compare", without the re-encode: the
    alphabet and the absence of padding/whitespace are enforced by strict
    ``a2b_base64`` after translation, the trailing bits by the last character.
    """
    rem = len(segment) & 3
    if rem == 0:
        pad = b""
    elif rem == 2:
        if segment[-1] not in _LAST_OK_2:
            raise BadBase64Url()
        pad = b"=="
    elif rem == 3:
        if segment[-1] not in _LAST_OK_3:
            raise BadBase64Url()
        pad = b"="
    else:
        raise BadBase64Url()
    try:
        return binascii.a2b_base64(
            segment.encode("ascii").translate(_TO_STANDARD) + pad, strict_mode=True
        )
    except (binascii.Error, UnicodeEncodeError) as exc:
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


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse UTF-8 JSON bytes that must hold one object, strictly.

    Refuses invalid UTF-8 (including encoded surrogates), a BOM, duplicate
    member names at any depth, ``NaN``/``Infinity`` and non-object values.
    ``\\ud800``-style escapes of lone surrogates are refused too, because the
    resulting string cannot be re-encoded as UTF-8 (RFC 8259 section 8.2).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUtf8() from exc
    try:
        # Fast path: the C scanner straight from offset 0 (no whitespace
        # handling); anything unusual goes through the full decoder.
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
