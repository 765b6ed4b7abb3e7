"""One error hierarchy for all of jwtgate.

Every error carries a stable machine-readable ``code`` (snake_case, never
renamed once published), an HTTP ``status`` and a public ``description``
that is safe to show a client: it never contains a token, a secret, a file
path or internal exception text.  Handlers resolve errors by walking the
class hierarchy, so a new subclass only needs ``code`` and ``status``.

Token errors map to RFC 6750 section 3.1 ``error="invalid_token"`` on the
wire; their ``code`` is the finer reason used in logs, metrics and the CLI.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlgorithmMismatch",
    "AlgorithmMissing",
    "AlgorithmNone",
    "AlgorithmNotAllowed",
    "AudienceMismatch",
    "BadBase64Url",
    "BadSignature",
    "ConfigError",
    "CritUnsupported",
    "DuplicateMember",
    "EmbeddedKeyRejected",
    "InvalidClaim",
    "InvalidUtf8",
    "IssuedInFuture",
    "IssuerMismatch",
    "JsonSerializationRejected",
    "JwtGateError",
    "KeyMaterialError",
    "LifetimeExceeded",
    "MalformedToken",
    "MissingClaim",
    "NotAnObject",
    "NotYetValid",
    "TokenError",
    "TokenExpired",
    "TokenRevoked",
    "TokenTooLarge",
    "TypMismatch",
    "UnencodedPayloadRejected",
    "UnknownKeyId",
    "WeakKey",
]


class JwtGateError(Exception):
    """Root of every error jwtgate raises on purpose.

    ``description`` is public; pass ``detail`` for extra text that may go to
    the operator's log but never to a client.
    """

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    default_description: ClassVar[str] = "internal error"

    def __init__(self, description: str | None = None, *, detail: str | None = None) -> None:
        self.description = description or self.default_description
        self.detail = detail
        super().__init__(self.description)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, description={self.description!r})"


class ConfigError(JwtGateError):
    """Configuration is invalid; the message names the offending path."""

    code = "config_invalid"
    status = 500
    default_description = "invalid configuration"


class KeyMaterialError(JwtGateError):
    """A key could not be generated, loaded, stored or found."""

    code = "key_error"
    status = 500
    default_description = "key error"


class WeakKey(KeyMaterialError):
    """A key is too weak for its algorithm (short RSA modulus, short HMAC secret)."""

    code = "weak_key"
    default_description = "key is too weak for its algorithm"


# --------------------------------------------------------------------------
# Token errors: every reason a token is refused has its own stable code.
# --------------------------------------------------------------------------


class TokenError(JwtGateError):
    """A presented token is not acceptable (RFC 6750 ``invalid_token``)."""

    code = "invalid_token"
    status = 401
    default_description = "the access token is invalid"


class MalformedToken(TokenError):
    """Not exactly three dot-separated segments, or otherwise unparseable."""

    code = "malformed_token"
    default_description = "the token is malformed"


class JsonSerializationRejected(MalformedToken):
    """JWS JSON serialization (RFC 7515 section 7.2) is not accepted; compact only."""

    code = "json_serialization_rejected"
    default_description = "only the compact serialization is accepted"


class TokenTooLarge(MalformedToken):
    """The token exceeds the configured size cap."""

    code = "token_too_large"
    default_description = "the token is too large"


class BadBase64Url(MalformedToken):
    """A segment is not canonical unpadded base64url (RFC 7515 section 2)."""

    code = "bad_base64url"
    default_description = "a token segment is not canonical base64url"


class InvalidUtf8(MalformedToken):
    """Header or payload is not valid UTF-8 (RFC 8259 section 8.1)."""

    code = "invalid_utf8"
    default_description = "the token is not valid UTF-8"


class DuplicateMember(MalformedToken):
    """A JSON object repeats a member name (RFC 7515 section 5.2 step 4, RFC 7519 section 4)."""

    code = "duplicate_member"
    default_description = "the token repeats a JSON member name"


class NotAnObject(MalformedToken):
    """Header or payload is valid JSON but not an object."""

    code = "not_an_object"
    default_description = "the token header or payload is not a JSON object"


class AlgorithmMissing(TokenError):
    """The header has no ``alg`` (RFC 7515 section 4.1.1)."""

    code = "alg_missing"
    default_description = "the token has no algorithm"


class AlgorithmNone(TokenError):
    """``alg: none`` in any spelling (RFC 8725 section 3.1, CVE-2015-9235)."""

    code = "alg_none"
    default_description = "unsigned tokens are not accepted"


class AlgorithmNotAllowed(TokenError):
    """The algorithm is not in the configured allow-list (RFC 8725 section 3.1)."""

    code = "alg_not_allowed"
    default_description = "the token algorithm is not allowed"


class AlgorithmMismatch(TokenError):
    """The algorithm is not the one bound to the key (RFC 8725 section 3.1, CVE-2016-10555)."""

    code = "alg_key_mismatch"
    default_description = "the token algorithm does not match its key"


class CritUnsupported(TokenError):
    """A ``crit`` header names an extension we do not implement (RFC 7515 section 4.1.11)."""

    code = "crit_unsupported"
    default_description = "the token requires an unsupported extension"


class UnencodedPayloadRejected(TokenError):
    """``b64: false`` (RFC 7797) is never accepted for JWTs."""

    code = "b64_false_rejected"
    default_description = "unencoded payloads are not accepted"


class EmbeddedKeyRejected(TokenError):
    """``jwk``, ``jku``, ``x5u`` or ``x5c`` in the header (RFC 8725 section 3.10, CVE-2018-0114)."""

    code = "embedded_key_rejected"
    default_description = "keys embedded in or referenced by the token are not accepted"


class UnknownKeyId(TokenError):
    """No trusted key has this ``kid`` (or the ``kid`` is missing)."""

    code = "unknown_kid"
    default_description = "the token was signed by an unknown key"


class BadSignature(TokenError):
    """The signature does not verify."""

    code = "bad_signature"
    default_description = "the token signature is invalid"


class TypMismatch(TokenError):
    """``typ`` is not the expected type (RFC 9068 section 4, RFC 8725 section 3.11)."""

    code = "typ_mismatch"
    default_description = "the token is not of the expected type"


class MissingClaim(TokenError):
    """A required claim is absent."""

    code = "missing_claim"
    default_description = "the token lacks a required claim"


class InvalidClaim(TokenError):
    """A claim has the wrong type or an unusable value (e.g. a non-finite ``exp``)."""

    code = "invalid_claim"
    default_description = "the token has an invalid claim"


class TokenExpired(TokenError):
    """``exp`` is in the past beyond the leeway (RFC 7519 section 4.1.4)."""

    code = "token_expired"
    default_description = "the token has expired"


class NotYetValid(TokenError):
    """``nbf`` is in the future beyond the leeway (RFC 7519 section 4.1.5)."""

    code = "token_not_yet_valid"
    default_description = "the token is not yet valid"


class IssuedInFuture(TokenError):
    """``iat`` is in the future beyond the leeway (RFC 7519 section 4.1.6)."""

    code = "iat_in_future"
    default_description = "the token was issued in the future"


class LifetimeExceeded(TokenError):
    """``exp - iat`` or ``exp - now`` is above the configured maximum lifetime."""

    code = "lifetime_exceeded"
    default_description = "the token lifetime exceeds the allowed maximum"


class IssuerMismatch(TokenError):
    """``iss`` is not a trusted issuer (RFC 7519 section 4.1.1)."""

    code = "issuer_mismatch"
    default_description = "the token issuer is not trusted"


class AudienceMismatch(TokenError):
    """``aud`` contains no expected audience (RFC 7519 section 4.1.3)."""

    code = "audience_mismatch"
    default_description = "the token is not intended for this audience"


class TokenRevoked(TokenError):
    """The token, its session or its subject's older tokens were revoked."""

    code = "token_revoked"
    default_description = "the token has been revoked"
