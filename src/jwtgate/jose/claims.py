"""JWT claim checks (RFC 7519 section 4.1, RFC 9068 section 4), after the signature."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from jwtgate.errors import (
    AudienceMismatch,
    InvalidClaim,
    IssuedInFuture,
    LifetimeExceeded,
    MissingClaim,
    NotYetValid,
    TokenExpired,
    TypMismatch,
)
from jwtgate.jose.policy import IssuerPolicy, VerifiedToken

__all__ = ["check_time", "validate_claims"]

# NumericDate values beyond this are not timestamps; refusing them before any
# arithmetic also keeps huge integers from overflowing float conversion.
_MAX_NUMERIC = 2.0**53


def _numeric(claims: Mapping[str, Any], name: str, required: bool) -> float | None:
    if name not in claims:
        if required:
            raise MissingClaim(f"the token lacks the {name} claim")
        return None
    value = claims[name]
    # RFC 7519 section 2: NumericDate is a JSON number; bool is not, nor NaN/inf.
    if type(value) is int:
        if abs(value) > _MAX_NUMERIC:
            raise InvalidClaim(f"the {name} claim is out of range")
        return float(value)
    if type(value) is float and math.isfinite(value):
        return value
    raise InvalidClaim(f"the {name} claim is not a finite number")


def _string(claims: Mapping[str, Any], name: str, required: bool) -> str | None:
    if name not in claims:
        if required:
            raise MissingClaim(f"the token lacks the {name} claim")
        return None
    value = claims[name]
    if not isinstance(value, str) or not value:
        raise InvalidClaim(f"the {name} claim is not a non-empty string")
    return value


def check_time(
    policy: IssuerPolicy, now: float, exp: float, iat: float | None, nbf: float | None
) -> None:
    """Expiry, not-before, issued-at and lifetime rules (also re-run on cache hits)."""
    leeway = policy.leeway
    if now >= exp + leeway:  # RFC 7519 section 4.1.4
        raise TokenExpired()
    if nbf is not None and nbf > now + leeway:  # RFC 7519 section 4.1.5
        raise NotYetValid()
    if iat is not None:
        if iat > now + leeway:  # RFC 7519 section 4.1.6
            raise IssuedInFuture()
        if exp - iat > policy.max_lifetime:
            raise LifetimeExceeded()
    # Bounds tokens that lie about iat too, so `exp: 1e300` never passes.
    if exp - now > policy.max_lifetime + leeway:
        raise LifetimeExceeded()


def validate_claims(
    policy: IssuerPolicy, header: Mapping[str, Any], claims: dict[str, Any], now: float
) -> VerifiedToken:
    """Check every claim rule for an access token whose signature already verified."""
    # RFC 9068 section 4 / RFC 8725 section 3.11: explicit typing.
    if not policy.typ_allowed(header.get("typ")):
        raise TypMismatch()
    exp = _numeric(claims, "exp", True)
    assert exp is not None
    iat = _numeric(claims, "iat", True)  # RFC 9068 section 2.2 requires iat
    nbf = _numeric(claims, "nbf", False)
    check_time(policy, now, exp, iat, nbf)
    aud = claims.get("aud")
    if aud is None:
        raise MissingClaim("the token lacks the aud claim")
    if isinstance(aud, str):
        auds: frozenset[str] = frozenset((aud,))
    elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        auds = frozenset(aud)
    else:
        raise InvalidClaim("the aud claim must be a string or a list of strings")
    if auds.isdisjoint(policy.audiences):  # RFC 7519 section 4.1.3
        raise AudienceMismatch()
    subject = _string(claims, "sub", True)
    jti = _string(claims, "jti", True)
    client_id = _string(claims, "client_id", True)
    sid = _string(claims, "sid", False)
    scope = claims.get("scope")
    if scope is None:
        scopes: frozenset[str] = frozenset()
    elif isinstance(scope, str):
        scopes = frozenset(s for s in scope.split(" ") if s)  # RFC 8693 section 4.2
    else:
        raise InvalidClaim("the scope claim must be a space-separated string")
    roles_value = claims.get("roles", [])
    if not isinstance(roles_value, list) or not all(isinstance(r, str) for r in roles_value):
        raise InvalidClaim("the roles claim must be a list of strings")
    return VerifiedToken(
        header=MappingProxyType(header) if isinstance(header, dict) else header,
        claims=MappingProxyType(claims),
        issuer=policy.issuer,
        subject=subject,
        jti=jti,
        sid=sid,
        client_id=client_id,
        exp=exp,
        iat=iat,
        scopes=scopes,
        roles=frozenset(roles_value),
        kid=str(header.get("kid")),
        alg=str(header.get("alg")),
    )
