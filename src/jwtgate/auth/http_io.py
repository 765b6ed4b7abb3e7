"""Strict request parsing for the auth endpoints.

Bodies are read with a size cap enforced while streaming (413 before any
parsing), content types are checked (415), JSON must be one UTF-8 object
without duplicate members, and form bodies must not repeat a parameter
(RFC 6749 section 3.2). Every failure is an :class:`AuthError`, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request

from jwtgate.auth.errors import InvalidClient, InvalidRequest, RequestTooLarge, UnsupportedMediaType

__all__ = [
    "basic_credentials",
    "bearer_token",
    "client_ip",
    "read_form",
    "read_json",
    "required_text",
    "text_field",
]


def _media_type(request: Request) -> tuple[str, str | None]:
    raw = request.headers.get("content-type", "")
    parts = [p.strip() for p in raw.split(";")]
    charset = None
    for param in parts[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return parts[0].lower(), charset


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("invalid Content-Length")
        if int(declared) > limit:
            raise RequestTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _check_charset(charset: str | None) -> None:
    if charset not in (None, "utf-8", "utf8"):
        raise UnsupportedMediaType("only UTF-8 bodies are accepted")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidRequest(f"duplicate member {key[:40]!r}")
        out[key] = value
    return out


def _storable(value: str) -> bool:
    # Lone surrogates ("\ud800" in JSON) and NUL cannot be stored by PostgreSQL.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The JSON object body (``application/json``, UTF-8, no duplicate members)."""
    media, charset = _media_type(request)
    if media != "application/json":
        raise UnsupportedMediaType("expected application/json")
    _check_charset(charset)
    body = await _read_body(request, limit)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not valid UTF-8") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise InvalidRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """The ``application/x-www-form-urlencoded`` body; repeated parameters are refused."""
    media, charset = _media_type(request)
    if media != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("expected application/x-www-form-urlencoded")
    _check_charset(charset)
    body = await _read_body(request, limit)
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the form body is not valid") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidRequest(f"parameter {key[:40]!r} is repeated (RFC 6749 section 3.2)")
        if not _storable(value) or not _storable(key):
            raise InvalidRequest("the form body contains invalid characters")
        out[key] = value
    # RFC 6749 section 3.1: parameters sent without a value are treated as omitted.
    return {k: v for k, v in out.items() if v != ""}


def text_field(
    data: dict[str, Any], name: str, *, required: bool = True, max_len: int = 4096
) -> str | None:
    """A string member; :class:`InvalidRequest` if missing (when required) or mistyped."""
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"missing parameter {name!r}")
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"parameter {name!r} must be a string")
    if len(value) > max_len or not _storable(value):
        raise InvalidRequest(f"parameter {name!r} is invalid")
    if required and not value:
        raise InvalidRequest(f"missing parameter {name!r}")
    return value


def required_text(data: dict[str, Any], name: str, *, max_len: int = 4096) -> str:
    """A required, non-empty string member."""
    value = text_field(data, name, required=True, max_len=max_len)
    if value is None:  # pragma: no cover - text_field raised already
        raise InvalidRequest(f"missing parameter {name!r}")
    return value


def client_ip(request: Request, trust_forwarded_for: bool) -> str:
    """The client's address (the right-most ``X-Forwarded-For`` hop when trusted)."""
    if trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            hop = forwarded.split(",")[-1].strip()
            if hop:
                return hop[:64]
    return request.client.host if request.client else "unknown"


def bearer_token(request: Request) -> str | None:
    """The RFC 6750 section 2.1 Bearer credential, if any (never from the URL)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """RFC 6749 2.3.1 HTTP Basic client credentials (form-urlencoded id and secret)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidClient("malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if not client_id or not _storable(client_id) or not _storable(secret):
        raise InvalidClient("malformed Basic credentials")
    return client_id, secret
