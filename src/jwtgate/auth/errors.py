"""OAuth 2.0 error family of the auth server (RFC 6749 section 5.2, RFC 7009, RFC 7662).

Every error renders as ``{"error": code, "error_description": text}`` with
its HTTP status; the description is public and never contains a credential.
"""

from __future__ import annotations

from typing import ClassVar

from jwtgate.errors import JwtGateError

__all__ = [
    "AuthError",
    "BearerRequired",
    "ClientExists",
    "CsrfFailed",
    "InsufficientRole",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "LoginRequired",
    "NotFound",
    "RequestTooLarge",
    "TooManyAttempts",
    "UnauthorizedClient",
    "UnknownClient",
    "UnknownFamily",
    "UnknownUser",
    "UnsupportedGrantType",
    "UnsupportedMediaType",
    "UserExists",
    "WeakPassword",
]


class AuthError(JwtGateError):
    """Root of the auth server's client-visible errors."""

    code = "invalid_request"
    status = 400
    default_description = "the request is invalid"
    headers: ClassVar[dict[str, str]] = {}

    def response_headers(self) -> dict[str, str]:
        """Extra HTTP headers for this error (``WWW-Authenticate``, ``Retry-After``)."""
        return dict(self.headers)


class InvalidRequest(AuthError):
    """RFC 6749 5.2 ``invalid_request``: missing, repeated or malformed parameter."""

    code = "invalid_request"


class BearerRequired(AuthError):
    """No usable access token on an endpoint that needs one (RFC 6750 section 3.1)."""

    code = "invalid_token"
    status = 401
    default_description = "an access token is required"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="jwtgate"'}


class InvalidClient(AuthError):
    """RFC 6749 5.2 ``invalid_client``: client authentication failed (401 + Basic challenge)."""

    code = "invalid_client"
    status = 401
    default_description = "client authentication failed"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Basic realm="jwtgate"'}


class InvalidGrant(AuthError):
    """RFC 6749 5.2 ``invalid_grant``: bad credentials or an unusable refresh token."""

    code = "invalid_grant"
    default_description = "the grant is invalid, expired or revoked"


class LoginRequired(InvalidGrant):
    """Bad username or password on ``/login`` (401, same body for every cause)."""

    status = 401
    default_description = "invalid username or password"


class UnauthorizedClient(AuthError):
    """RFC 6749 5.2 ``unauthorized_client``: the client may not use this grant or token."""

    code = "unauthorized_client"
    default_description = "the client is not authorized for this request"


class UnsupportedGrantType(AuthError):
    """RFC 6749 5.2 ``unsupported_grant_type``."""

    code = "unsupported_grant_type"
    default_description = "the grant type is not supported"


class InvalidScope(AuthError):
    """RFC 6749 5.2 ``invalid_scope``: unknown scope or beyond what was granted."""

    code = "invalid_scope"
    default_description = "the requested scope is invalid"


class TooManyAttempts(AuthError):
    """Throttled or locked out (429 with ``Retry-After``)."""

    code = "too_many_attempts"
    status = 429
    default_description = "too many attempts; try again later"

    def __init__(self, retry_after: float, description: str | None = None) -> None:
        super().__init__(description)
        self.retry_after = max(1, int(retry_after + 0.999))

    def response_headers(self) -> dict[str, str]:
        """``Retry-After`` in whole seconds (RFC 9110 section 10.2.3)."""
        return {"Retry-After": str(self.retry_after)}


class RequestTooLarge(AuthError):
    """The body exceeds the configured cap (413)."""

    code = "request_too_large"
    status = 413
    default_description = "the request body is too large"


class UnsupportedMediaType(AuthError):
    """Wrong ``Content-Type`` for the endpoint (415)."""

    code = "unsupported_media_type"
    status = 415
    default_description = "unsupported content type"


class NotFound(AuthError):
    """No such endpoint (404)."""

    code = "not_found"
    status = 404
    default_description = "not found"


class CsrfFailed(AuthError):
    """A cookie-authenticated unsafe request lacks the matching ``X-CSRF-Token`` (403)."""

    code = "csrf_failed"
    status = 403
    default_description = "missing or mismatching CSRF token"


class InsufficientRole(AuthError):
    """The caller lacks a required role (403)."""

    code = "insufficient_role"
    status = 403
    default_description = "the caller lacks the required role"


class UserExists(AuthError):
    """An admin tried to create a user that already exists (409)."""

    code = "user_exists"
    status = 409
    default_description = "the user already exists"


class ClientExists(AuthError):
    """An admin tried to create a client that already exists (409)."""

    code = "client_exists"
    status = 409
    default_description = "the client already exists"


class UnknownUser(AuthError):
    """An admin operation named a user that does not exist (404)."""

    code = "unknown_user"
    status = 404
    default_description = "no such user"


class UnknownFamily(AuthError):
    """An admin operation named a refresh family that does not exist (404)."""

    code = "unknown_family"
    status = 404
    default_description = "no such refresh family"


class UnknownClient(AuthError):
    """An admin operation named a client that does not exist (404)."""

    code = "unknown_client"
    status = 404
    default_description = "no such client"


class WeakPassword(AuthError):
    """The password violates the policy (length, common password)."""

    code = "weak_password"
    default_description = "the password does not meet the password policy"
