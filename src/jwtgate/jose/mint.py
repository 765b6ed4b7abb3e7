"""RFC 9068 access-token minting."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jwtgate.clock import Clock, system_clock
from jwtgate.errors import ConfigError, JwtGateError
from jwtgate.jose._codec import json_dumps
from jwtgate.jose.jws import sign_compact
from jwtgate.jose.keys import SigningKey

__all__ = [
    "REGISTERED_CLAIMS",
    "AccessTokenMinter",
    "InvalidMintRequest",
    "LifetimeTooLong",
    "MintError",
    "MintedToken",
    "ReservedClaim",
]

REGISTERED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "roles", "sid", "typ"}
)
"""Claims the minter sets itself; ``extra`` may not override them."""

# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")


class MintError(JwtGateError):
    """A mint request is invalid (the caller's input, never a server fault)."""

    code = "mint_invalid"
    status = 400
    default_description = "the token request is invalid"


class InvalidMintRequest(MintError):
    """A subject, audience, scope, role or custom claim has an unusable value."""

    code = "mint_invalid"


class LifetimeTooLong(MintError):
    """The requested ``ttl`` exceeds the configured maximum lifetime."""

    code = "ttl_exceeds_max"
    default_description = "the requested token lifetime exceeds the maximum"


class ReservedClaim(MintError):
    """A custom claim tries to override a registered claim."""

    code = "reserved_claim"
    default_description = "custom claims may not override registered claims"


class _ActiveKeyHolder(Protocol):
    @property
    def active(self) -> SigningKey: ...


@dataclass(frozen=True)
class MintedToken:
    """A freshly signed access token and what went into it."""

    token: str
    jti: str
    iat: int
    exp: int
    kid: str
    claims: dict[str, Any]


def _strings(value: str | Sequence[str], what: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(v, str) and v for v in items):
        raise InvalidMintRequest(f"{what} must be non-empty strings")
    return items


def _scope(scope: str | Sequence[str] | None) -> str:
    if scope is None:
        return ""
    tokens = scope.split(" ") if isinstance(scope, str) else _strings(scope, "scopes")
    tokens = [t for t in tokens if t]
    if not all(isinstance(t, str) and _SCOPE_TOKEN.fullmatch(t) for t in tokens):
        raise InvalidMintRequest("a scope contains characters RFC 6749 section 3.3 forbids")
    return " ".join(dict.fromkeys(tokens))  # de-duplicate, keep order


class AccessTokenMinter:
    """Signs RFC 9068 access tokens with the keyring's active key."""

    def __init__(
        self,
        keyring: _ActiveKeyHolder,
        *,
        issuer: str,
        audience: str,
        default_ttl: int = 900,
        max_ttl: int = 3600,
        clock: Clock = system_clock,
    ) -> None:
        if default_ttl <= 0 or max_ttl <= 0 or default_ttl > max_ttl:
            raise ConfigError("need 0 < default_ttl <= max_ttl")
        self._keyring = keyring
        self._issuer = issuer
        self._audience = audience
        self._default_ttl = default_ttl
        self._max_ttl = max_ttl
        self._clock = clock

    def mint(
        self,
        subject: str,
        *,
        audience: str | Sequence[str] | None = None,
        scope: str | Sequence[str] | None = None,
        roles: Sequence[str] = (),
        client_id: str = "jwtgate",
        sid: str | None = None,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> MintedToken:
        """Mint one access token (header ``typ: at+jwt``, RFC 9068 section 2)."""
        if not isinstance(subject, str) or not subject:
            raise InvalidMintRequest("the subject must be a non-empty string")
        if not isinstance(client_id, str) or not client_id:
            raise InvalidMintRequest("client_id must be a non-empty string")
        if sid is not None and (not isinstance(sid, str) or not sid):
            raise InvalidMintRequest("sid must be a non-empty string")
        lifetime = self._default_ttl if ttl is None else ttl
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
            raise InvalidMintRequest("ttl must be a positive whole number of seconds")
        if lifetime > self._max_ttl:
            raise LifetimeTooLong(f"ttl may be at most {self._max_ttl} seconds")
        auds = _strings(self._audience if audience is None else audience, "audiences")
        if not auds:
            raise InvalidMintRequest("at least one audience is required")
        role_list = _strings(roles, "roles") if not isinstance(roles, str) else [roles]
        extra = dict(extra or {})
        clash = REGISTERED_CLAIMS.intersection(extra)
        if clash:
            raise ReservedClaim(f"custom claims may not set: {', '.join(sorted(clash))}")
        if not all(isinstance(k, str) for k in extra):
            raise InvalidMintRequest("custom claim names must be strings")

        key = self._keyring.active
        iat = math.floor(self._clock())
        exp = iat + lifetime
        jti = secrets.token_urlsafe(16)  # 128 random bits (RFC 9068 section 2.2)
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "aud": auds[0] if len(auds) == 1 else auds,
            "exp": exp,
            "iat": iat,
            "jti": jti,
            "client_id": client_id,
        }
        scope_text = _scope(scope)
        if scope_text:
            claims["scope"] = scope_text
        claims["roles"] = role_list
        if sid is not None:
            claims["sid"] = sid
        claims.update(extra)
        try:
            payload = json_dumps(claims)
        except (TypeError, ValueError) as exc:
            raise InvalidMintRequest("custom claims must be JSON values") from exc
        header = {"typ": "at+jwt", "alg": key.alg, "kid": key.kid}
        token = sign_compact(header, payload, key)
        return MintedToken(token=token, jti=jti, iat=iat, exp=exp, kid=key.kid, claims=claims)
