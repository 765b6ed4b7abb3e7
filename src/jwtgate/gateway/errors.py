"""Gateway errors and their exact wire form (RFC 6750 section 3, RFC 9110).

Every refusal is a :class:`JwtGateError` with a stable ``code``. The
response carries only the public description: never exception text, paths,
keys or the token. 401 and 403 carry ``WWW-Authenticate: Bearer`` with the
RFC 6750 attributes; 429 carries ``Retry-After``; 405 carries ``Allow``.
"""

from __future__ import annotations

import json
import math

from jwtgate.errors import JwtGateError, TokenError

__all__ = [
    "BadGateway",
    "BadRequest",
    "BodyTooLarge",
    "CsrfFailed",
    "GatewayError",
    "GatewayTimeout",
    "HeadersTooLarge",
    "InsufficientScope",
    "InvalidRequest",
    "LimiterUnavailable",
    "MethodNotAllowed",
    "MissingToken",
    "RateLimited",
    "RouteNotFound",
    "UnsafeClaim",
    "render_error",
]


class GatewayError(JwtGateError):
    """Root of the gateway's own refusals."""

    code = "gateway_error"
    status = 500
    default_description = "the gateway could not handle the request"


class BadRequest(GatewayError):
    """The request is malformed (ambiguous framing, dot segments in the path)."""

    code = "bad_request"
    status = 400
    default_description = "the request is malformed"


class InvalidRequest(GatewayError):
    """RFC 6750 section 3.1 ``invalid_request``: the token was sent in a wrong way."""

    code = "invalid_request"
    status = 400
    default_description = "the request carries credentials in an invalid way"


class MissingToken(GatewayError):
    """No token on a route that needs one (RFC 6750 section 3.1: no error code)."""

    code = "missing_token"
    status = 401
    default_description = "an access token is required"


class UnsafeClaim(TokenError):
    """A claim to forward holds characters a header value cannot carry (RFC 9110 5.5)."""

    code = "unsafe_claim"
    default_description = "the token carries a claim that cannot be forwarded safely"


class InsufficientScope(GatewayError):
    """RFC 6750 section 3.1 ``insufficient_scope``: roles, scopes or claims do not suffice.

    ``code`` is the finer reason for logs: ``insufficient_scope``,
    ``insufficient_role`` or ``claim_mismatch``.
    """

    code = "insufficient_scope"
    status = 403
    default_description = "the access token does not grant access to this resource"

    def __init__(self, reason: str, scope: str = "", description: str | None = None) -> None:
        super().__init__(description)
        self.reason = reason
        self.scope = scope


class CsrfFailed(GatewayError):
    """A cookie-authenticated unsafe request lacks the matching CSRF header."""

    code = "csrf_failed"
    status = 403
    default_description = "missing or invalid CSRF token"


class RouteNotFound(GatewayError):
    """No route matches the request."""

    code = "not_found"
    status = 404
    default_description = "no route matches this request"


class MethodNotAllowed(GatewayError):
    """A route matches the path but not the method."""

    code = "method_not_allowed"
    status = 405
    default_description = "method not allowed"

    def __init__(self, allow: frozenset[str]) -> None:
        super().__init__()
        self.allow = allow


class BodyTooLarge(GatewayError):
    """The request body exceeds the route's ``max_body_bytes``."""

    code = "body_too_large"
    status = 413
    default_description = "the request body is too large"


class RateLimited(GatewayError):
    """A rate limit refused the request."""

    code = "rate_limited"
    status = 429
    default_description = "too many requests"

    def __init__(self, retry_after: float) -> None:
        super().__init__()
        self.retry_after = retry_after


class LimiterUnavailable(GatewayError):
    """The shared rate limiter cannot be reached and fails closed (RFC 9110 section 15.6.4)."""

    code = "temporarily_unavailable"
    status = 503
    default_description = "the gateway cannot check this request right now"
    retry_after = 1.0


class HeadersTooLarge(GatewayError):
    """The request headers exceed ``max_header_bytes`` (RFC 6585 section 5)."""

    code = "headers_too_large"
    status = 431
    default_description = "the request headers are too large"


class BadGateway(GatewayError):
    """The upstream could not be reached or answered badly."""

    code = "bad_gateway"
    status = 502
    default_description = "the upstream service failed"


class GatewayTimeout(GatewayError):
    """The upstream did not answer in time."""

    code = "upstream_timeout"
    status = 504
    default_description = "the upstream service timed out"


def _quoted(value: str) -> str:
    """An RFC 9110 section 5.6.4 quoted-string restricted to RFC 6750's charset.

    RFC 6750 section 3 allows only %x20-21 / %x23-5B / %x5D-7E inside its
    attribute values, so ``"`` and ``\\`` (and anything non-printable) are
    replaced rather than escaped: a client parser need not unescape anything.
    """
    clean = "".join(c if (" " <= c <= "~" and c not in '"\\') else "?" for c in value)
    return f'"{clean}"'


def _challenge(exc: JwtGateError, token_presented: bool) -> bytes | None:
    parts = ['Bearer realm="jwtgate"']
    if isinstance(exc, TokenError):
        parts.append('error="invalid_token"')
        parts.append(f"error_description={_quoted(exc.description)}")
    elif isinstance(exc, InvalidRequest):
        parts.append('error="invalid_request"')
        parts.append(f"error_description={_quoted(exc.description)}")
    elif isinstance(exc, InsufficientScope):
        parts.append('error="insufficient_scope"')
        parts.append(f"error_description={_quoted(exc.description)}")
        if exc.scope:
            parts.append(f"scope={_quoted(exc.scope)}")
    elif isinstance(exc, MissingToken) and not token_presented:
        pass  # RFC 6750 section 3.1: no error attribute when no credentials were sent
    else:
        return None
    return ", ".join(parts).encode("latin-1")


def render_error(
    exc: JwtGateError, *, token_presented: bool = False
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and JSON body for ``exc``; unknown errors become a bare 500/502."""
    status = exc.status if 400 <= exc.status <= 599 else 500
    if isinstance(exc, TokenError):
        error = "invalid_token"
    elif isinstance(exc, InsufficientScope):
        error = "insufficient_scope"
    else:
        error = exc.code
    body = json.dumps(
        {"error": error, "error_description": exc.description}, separators=(",", ":")
    ).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"cache-control", b"no-store"),
    ]
    if status == 401 or isinstance(exc, (InsufficientScope, InvalidRequest)):
        challenge = _challenge(exc, token_presented)
        if challenge is not None:
            headers.append((b"www-authenticate", challenge))
    if isinstance(exc, RateLimited | LimiterUnavailable):
        # RFC 9110 section 10.2.3: delay-seconds is a non-negative integer.
        headers.append((b"retry-after", str(max(1, math.ceil(exc.retry_after))).encode()))
    if isinstance(exc, MethodNotAllowed):
        headers.append((b"allow", ", ".join(sorted(exc.allow)).encode("latin-1")))
    return status, headers, body
