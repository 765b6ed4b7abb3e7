"""JWT claim checks (RFC 7519 section 4.1, RFC 9068 section 4), after the signature."""

from __future__ import annotations

import math
from collections.abc import Mapping
from operator import itemgetter
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
from jwtgate.jose._codec import orjson_keys
from jwtgate.jose.policy import IssuerPolicy, VerifiedToken, _Builder

__all__ = ["check_time", "validate_claims"]

# NumericDate values beyond this are not timestamps; refusing them before any
# arithmetic also keeps huge integers from overflowing float conversion.
_MAX_NUMERIC = 2.0**53
_MAX_INT = 2**53
_MIN_INT = -_MAX_INT
_EMPTY: frozenset[str] = frozenset()
# The claims every access token has (RFC 9068 section 2.2), fetched by one C call.
_REQUIRED = itemgetter(*orjson_keys("exp", "iat", "aud", "sub", "jti", "client_id"))
_NBF, _SID, _SCOPE, _ROLES = orjson_keys("nbf", "sid", "scope", "roles")
_MISSING: Any = object()
_scope_cache: dict[str, frozenset[str]] = {}
_roles_cache: dict[tuple[Any, ...], frozenset[str]] = {}


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
    late = now + leeway
    if nbf is not None and nbf > late:  # RFC 7519 section 4.1.5
        raise NotYetValid()
    if iat is not None:
        if iat > late:  # RFC 7519 section 4.1.6
            raise IssuedInFuture()
        if exp - iat > policy.max_lifetime:
            raise LifetimeExceeded()
    # Bounds tokens that lie about iat too, so `exp: 1e300` never passes.
    if exp - now > policy._horizon:  # max_lifetime + leeway
        raise LifetimeExceeded()


def _numbers(claims: Mapping[str, Any]) -> tuple[float, float, float | None]:
    exp = _numeric(claims, "exp", True)
    iat = _numeric(claims, "iat", True)  # RFC 9068 section 2.2 requires iat
    if exp is None or iat is None:  # unreachable: required=True raises; kept for -O
        raise MissingClaim()
    return exp, iat, _numeric(claims, "nbf", False)


def _audiences(aud: Any) -> frozenset[str]:
    if aud is None:
        raise MissingClaim("the token lacks the aud claim")
    if isinstance(aud, str):
        return frozenset((aud,))
    if isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        return frozenset(aud)
    raise InvalidClaim("the aud claim must be a string or a list of strings")


def _roles(value: list[Any]) -> frozenset[str]:
    # Role lists repeat across tokens, so validated ones are cached by their
    # tuple.  A cached key is all strings, and a JSON string equals only a
    # string, so a tuple equal to it is all strings too.
    for role in value:  # a plain loop: no generator on the hot path
        if type(role) is not str:
            raise InvalidClaim("the roles claim must be a list of strings")
    roles = frozenset(value)
    if len(value) <= 16:
        if len(_roles_cache) >= 512:
            _roles_cache.clear()  # bounded; a flood of distinct lists cannot grow it
        _roles_cache[tuple(value)] = roles
    return roles


def validate_claims(
    policy: IssuerPolicy,
    claims: dict[str, Any],
    now: float,
    header: Mapping[str, Any],
    alg: str,
    kid: str,
    typ: str | None,
) -> VerifiedToken:
    """Check every claim rule for an access token whose signature already verified.

    ``header`` is the token's read-only header and ``alg``, ``kid`` and
    ``typ`` its members, already type-checked by :func:`~.jws.check_header`.
    """
    # RFC 9068 section 4 / RFC 8725 section 3.11: explicit typing.
    # Exact-spelling fast path first; typ_allowed() handles case and prefix.
    if typ not in policy._typ_exact and not policy.typ_allowed(typ):
        raise TypMismatch()
    try:
        exp, iat, aud, subject, jti, client_id = _REQUIRED(claims)
    except KeyError:  # a missing claim: the checks below raise in their order
        get = claims.get
        exp, iat, aud = get("exp"), get("iat"), get("aud")
        subject, jti, client_id = get("sub"), get("jti"), get("client_id")
    # Fast path: integers in range and no nbf (int bounds: no int/float compare).
    if (
        type(exp) is int
        and type(iat) is int
        and _MIN_INT <= exp <= _MAX_INT
        and _MIN_INT <= iat <= _MAX_INT
        and _NBF not in claims
    ):
        nbf = None
    else:
        exp, iat, nbf = _numbers(claims)
    # check_time's pass conditions, inline for the usual token; if any fails,
    # check_time itself decides, raising the first error in its order.
    leeway = policy.leeway
    if not (
        nbf is None
        and now < exp + leeway
        and iat <= now + leeway
        and exp - iat <= policy.max_lifetime
        and exp - now <= policy._horizon
    ):
        check_time(policy, now, exp, iat, nbf)
    # RFC 7519 section 4.1.3: one of the token's audiences must be ours.
    if not (type(aud) is str and aud in policy.audiences) and _audiences(aud).isdisjoint(
        policy.audiences
    ):
        raise AudienceMismatch()
    if not (type(subject) is str and type(jti) is str and type(client_id) is str):
        subject = _string(claims, "sub", True)
        jti = _string(claims, "jti", True)
        client_id = _string(claims, "client_id", True)
    if not (subject and jti and client_id):
        raise InvalidClaim("sub, jti and client_id must be non-empty strings")
    sid = claims.get(_SID, _MISSING)
    if sid is _MISSING:
        sid = None
    elif type(sid) is not str or not sid:
        raise InvalidClaim("the sid claim is not a non-empty string")
    scope = claims.get(_SCOPE, _MISSING)
    if scope is _MISSING:
        scopes: frozenset[str] = _EMPTY
    elif type(scope) is str:
        cached = _scope_cache.get(scope)  # scope strings repeat across tokens
        if cached is None:
            cached = frozenset(s for s in scope.split(" ") if s)  # RFC 8693 section 4.2
            if len(scope) <= 256:
                if len(_scope_cache) >= 512:
                    _scope_cache.clear()  # bounded; a flood of distinct scopes cannot grow it
                _scope_cache[scope] = cached
        scopes = cached
    else:
        raise InvalidClaim("the scope claim must be a space-separated string")
    roles_value = claims.get(_ROLES, _MISSING)
    if roles_value is _MISSING:
        roles: frozenset[str] = _EMPTY
    elif type(roles_value) is list:
        try:
            roles = _roles_cache[tuple(roles_value)]
        except (KeyError, TypeError):  # not cached, or an unhashable item
            roles = _roles(roles_value)
    else:
        raise InvalidClaim("the roles claim must be a list of strings")
    # The builder has VerifiedToken's exact slot layout, so plain slot stores
    # and a __class__ switch give a real, frozen VerifiedToken without a frozen
    # dataclass __init__, which routes every field through object.__setattr__.
    token: Any = _Builder()  # a type call: cheaper than object.__new__(_Builder)
    token.header = header
    token.claims = MappingProxyType(claims)
    token.issuer = policy.issuer
    token.subject = subject
    token.jti = jti
    token.sid = sid
    token.client_id = client_id
    token.exp = exp
    token.iat = iat
    token.scopes = scopes
    token.roles = roles
    token.kid = kid
    token.alg = alg
    token.__class__ = VerifiedToken
    result: VerifiedToken = token
    return result
