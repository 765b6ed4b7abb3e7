"""The lean, strict JWS compact parser and the signature-only entry point.

Everything a token can say about itself is checked here before any key is
touched: structure (RFC 7515 section 7.1), canonical base64url, strict JSON,
and the header rules of RFC 8725.  The header segment of a key's tokens
repeats, so validated headers are memoised by their exact segment text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from jwtgate.errors import (
    AlgorithmMismatch,
    AlgorithmMissing,
    AlgorithmNone,
    BadSignature,
    CritUnsupported,
    EmbeddedKeyRejected,
    JsonSerializationRejected,
    MalformedToken,
    TokenTooLarge,
    UnencodedPayloadRejected,
)
from jwtgate.jose._codec import (
    _PADS,
    _b64decode,
    b64url_decode,
    b64url_encode,
    json_dumps,
    parse_json_object,
)
from jwtgate.jose.keys import SigningKey, VerificationKey

__all__ = [
    "DEFAULT_MAX_TOKEN_BYTES",
    "HeaderInfo",
    "ParsedJws",
    "check_header",
    "decode_unverified",
    "parse_compact",
    "parse_parts",
    "parse_token",
    "sign_compact",
    "verify_jws",
]

DEFAULT_MAX_TOKEN_BYTES = 8192
_DECODE_MAX_BYTES = 65536

# RFC 8725 section 3.10 / CVE-2018-0114: a token must never choose its own key.
_EMBEDDED_KEY_HEADERS = ("jwk", "jku", "x5u", "x5c")
# RFC 7515 section 4.1.11: crit must not name registered parameters.
_REGISTERED_HEADERS = frozenset(
    {"alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit"}
)
_HEADER_CACHE_MAX = 1024
_HEADER_CACHE_MAX_SEGMENT = 512
HeaderInfo = tuple[Mapping[str, Any], str, str | None, str | None]
"""A validated header and the members the verifier reads: ``(header, alg, kid, typ)``."""
_header_cache: dict[str, HeaderInfo] = {}


@dataclass(frozen=True, slots=True)
class ParsedJws:
    """A structurally valid compact JWS whose signature is not yet checked."""

    header: Mapping[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def check_header(header: dict[str, Any]) -> None:
    """Apply the token-independent header rules; raise the matching :class:`TokenError`."""
    if "alg" not in header:
        raise AlgorithmMissing()
    alg = header["alg"]
    if not isinstance(alg, str) or not alg:
        raise AlgorithmMissing("the token algorithm is not a string")
    if alg.lower() == "none":  # RFC 8725 section 3.1, CVE-2015-9235 (any spelling)
        raise AlgorithmNone()
    for name in _EMBEDDED_KEY_HEADERS:
        if name in header:
            raise EmbeddedKeyRejected()
    if "crit" in header:
        crit = header["crit"]
        # RFC 7515 section 4.1.11: a non-empty list of names of present,
        # non-registered parameters; anything else is malformed.
        if (
            not isinstance(crit, list)
            or not crit
            or not all(isinstance(c, str) and c in header for c in crit)
            or any(c in _REGISTERED_HEADERS for c in crit)
            or len(set(crit)) != len(crit)
        ):
            raise MalformedToken("the crit header is malformed")
        raise CritUnsupported()  # we implement no extension (RFC 7515 section 4.1.11)
    if "b64" in header:
        b64 = header["b64"]
        if b64 is False:  # RFC 7797 unencoded payload
            raise UnencodedPayloadRejected()
        if b64 is not True:
            raise MalformedToken("the b64 header is malformed")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedToken("the kid header is not a string")
    typ = header.get("typ")
    if typ is not None and not isinstance(typ, str):
        raise MalformedToken("the typ header is not a string")


def _header(segment: str) -> HeaderInfo:
    info = _header_cache.get(segment)
    if info is None:
        parsed = parse_json_object(b64url_decode(segment))
        check_header(parsed)
        # Read-only: the same object is shared by every token with this header.
        # check_header() established the types of alg, kid and typ.
        info = (MappingProxyType(parsed), parsed["alg"], parsed.get("kid"), parsed.get("typ"))
        if len(segment) <= _HEADER_CACHE_MAX_SEGMENT:
            if len(_header_cache) >= _HEADER_CACHE_MAX:
                _header_cache.clear()  # bounded: a flood of distinct headers cannot grow memory
            _header_cache[segment] = info
    return info


def _split(token: object, max_bytes: int) -> list[str]:
    if type(token) is not str:
        raise MalformedToken()
    if len(token) > max_bytes:
        raise TokenTooLarge()
    parts = token.split(".")
    if len(parts) != 3 or token[:1] == "{":
        if token.lstrip()[:1] == "{":  # RFC 7515 section 7.2
            raise JsonSerializationRejected()
        raise MalformedToken("the token must have exactly three segments")
    return parts


def parse_token(token: str, max_bytes: int) -> tuple[HeaderInfo, bytes, bytes, bytes]:
    """The verifier's form of :func:`parse_compact`: ``(header info, payload, signing_input, sig)``.

    The fast path takes only tokens that are plainly well formed: without
    ``+``, ``/`` or ``=`` anywhere (the decoder refuses non-ASCII), exactly
    two dots, a header already validated (cached), and canonical lengths and
    trailing bits for the other two segments.  It decodes with the same validating decoder as
    :func:`b64url_decode`, so it returns exactly what the strict path would;
    anything else goes to the strict path, which raises the precise error in
    the RFC order.
    """
    if (
        type(token) is str
        and len(token) <= max_bytes
        and "+" not in token
        and "/" not in token
        and "=" not in token
    ):
        # Split at the last dot first: its left side is the signing input
        # (RFC 7515 section 5.2 step 8), so no slice of the token is needed.
        signed, _, sig = token.rpartition(".")
        head, dot, body = signed.partition(".")
        if dot:  # a third dot lands in body, which the decoder refuses
            try:
                info = _header_cache[head]
                payload = _b64decode(body + _PADS[len(body) & 3][body[-1:]], b"-_", True)
                signature = _b64decode(sig + _PADS[len(sig) & 3][sig[-1:]], b"-_", True)
            except (KeyError, ValueError):
                pass  # not cached, not canonical or not base64url: the strict path says which
            else:
                return info, payload, signed.encode("ascii"), signature
    return _parse_strict(token, max_bytes)


def _parse_strict(token: str, max_bytes: int) -> tuple[HeaderInfo, bytes, bytes, bytes]:
    head, body, sig = _split(token, max_bytes)
    info = _header(head)
    payload = b64url_decode(body)
    signature = b64url_decode(sig)
    # Both segments decoded canonically, so they are ASCII and this encodes 1:1
    # (the order matters: a non-ASCII character must be BadBase64Url, never a crash).
    signing_input = token[: len(head) + 1 + len(body)].encode("ascii")
    return info, payload, signing_input, signature


def parse_parts(token: str, max_bytes: int) -> tuple[Mapping[str, Any], bytes, bytes, bytes]:
    """:func:`parse_token` with the header mapping: ``(header, payload, signing_input, sig)``."""
    info, payload, signing_input, signature = parse_token(token, max_bytes)
    return info[0], payload, signing_input, signature


def parse_compact(token: str, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> ParsedJws:
    """Split and decode a compact JWS strictly, applying :func:`check_header`."""
    return ParsedJws(*parse_parts(token, max_bytes))


def verify_jws(
    token: str, key: VerificationKey, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES
) -> bytes:
    """Verify a compact JWS with one trusted key; return the payload bytes.

    The algorithm is the key's, never the token's: a header ``alg`` that
    differs is :class:`AlgorithmMismatch` (RFC 8725 section 3.1).
    """
    jws = parse_compact(token, max_bytes=max_bytes)
    if jws.header["alg"] != key.alg:
        raise AlgorithmMismatch()
    if not key.verify(jws.signing_input, jws.signature):
        raise BadSignature()
    return jws.payload


def sign_compact(header: dict[str, Any], payload: bytes, key: SigningKey) -> str:
    """Produce a compact JWS; ``header['alg']`` is forced to the key's algorithm."""
    header = {**header, "alg": key.alg}
    signing_input = b64url_encode(json_dumps(header)) + "." + b64url_encode(payload)
    signature = key.sign(signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature)


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims WITHOUT verifying anything cryptographic.

    For display only (``jwtgate token decode``).  Still strict on structure:
    three canonical base64url segments, strict JSON objects, 64 KiB cap.
    """
    parts = _split(token, _DECODE_MAX_BYTES)
    header = parse_json_object(b64url_decode(parts[0]))
    claims = parse_json_object(b64url_decode(parts[1]))
    b64url_decode(parts[2])
    return header, claims
