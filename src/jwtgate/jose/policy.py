"""Per-issuer verification policy and the verified-token result type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from jwtgate.errors import ConfigError
from jwtgate.jose.algorithms import ALGORITHMS
from jwtgate.jose.source import KeySource

__all__ = ["IssuerPolicy", "VerifiedToken", "normalise_typ"]


def normalise_typ(value: str) -> str:
    """Lower-case and strip an ``application/`` prefix (RFC 7515 section 4.1.9).

    Media types compare case-insensitively and ``typ`` may omit the
    ``application/`` prefix, so ``AT+JWT`` and ``application/at+jwt`` are one value.
    """
    low = value.lower()
    return low[12:] if low.startswith("application/") else low


@dataclass(frozen=True)
class IssuerPolicy:
    """What one trusted issuer's tokens must satisfy (compiled once at start)."""

    issuer: str
    audiences: frozenset[str]
    algorithms: frozenset[str]
    keys: KeySource
    leeway: float = 30.0
    max_lifetime: float = 3600.0
    typ: frozenset[str] = frozenset({"at+jwt", "application/at+jwt"})
    max_token_bytes: int = 8192
    _typ_norm: frozenset[str] = field(init=False, repr=False, compare=False)
    _typ_exact: frozenset[str] = field(init=False, repr=False, compare=False)
    _horizon: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.issuer, str) or not self.issuer:
            raise ConfigError("an issuer policy needs a non-empty issuer")
        if not self.audiences or not all(isinstance(a, str) and a for a in self.audiences):
            raise ConfigError("an issuer policy needs at least one audience")
        bad = set(self.algorithms) - ALGORITHMS
        if not self.algorithms or bad:
            raise ConfigError(
                f"allowed algorithms must be a non-empty subset of {sorted(ALGORITHMS)}"
            )
        if self.leeway < 0 or self.max_lifetime <= 0 or self.max_token_bytes <= 0:
            raise ConfigError("leeway, max_lifetime and max_token_bytes must be positive")
        object.__setattr__(self, "audiences", frozenset(self.audiences))
        object.__setattr__(self, "algorithms", frozenset(self.algorithms))
        norm = frozenset(normalise_typ(t) for t in self.typ)
        object.__setattr__(self, "_typ_norm", norm)
        exact = set(self.typ) | norm | {"application/" + t for t in norm}
        object.__setattr__(self, "_typ_exact", frozenset(exact))
        # The furthest exp may lie ahead of now (claims.check_time).
        object.__setattr__(self, "_horizon", self.max_lifetime + self.leeway)

    def typ_allowed(self, typ: Any) -> bool:
        """True if this ``typ`` header is accepted (always, if ``typ`` is empty)."""
        if (type(typ) is str and typ in self._typ_exact) or not self._typ_norm:
            return True
        return isinstance(typ, str) and normalise_typ(typ) in self._typ_norm


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature and claims have been verified."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    issuer: str
    subject: str | None
    jti: str | None
    sid: str | None
    client_id: str | None
    exp: float
    iat: float | None
    scopes: frozenset[str]
    roles: frozenset[str]
    kid: str
    alg: str


class _Builder:
    """Same slots, same order as :class:`VerifiedToken`, but assignable."""

    # Order matters: it must be VerifiedToken's field order (checked below).
    __slots__ = (  # noqa: RUF023
        "header", "claims", "issuer", "subject", "jti", "sid", "client_id",
        "exp", "iat", "scopes", "roles", "kid", "alg",
    )  # fmt: skip


if _Builder.__slots__ != tuple(f.name for f in fields(VerifiedToken)):  # pragma: no cover
    raise RuntimeError("_Builder must mirror VerifiedToken's fields")
