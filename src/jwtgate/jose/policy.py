"""Per-issuer verification policy and the verified-token result type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from jwtgate.errors import ConfigError
from jwtgate.jose.algorithms import ALGORITHMS
from jwtgate.jose.source import KeySource

__all__ = ["IssuerPolicy", "VerifiedToken", "make_verified_token", "normalise_typ"]


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
        object.__setattr__(self, "_typ_norm", frozenset(normalise_typ(t) for t in self.typ))

    def typ_allowed(self, typ: Any) -> bool:
        """True if this ``typ`` header is accepted (always, if ``typ`` is empty)."""
        if not self._typ_norm:
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


def _fast_constructor() -> Callable[..., VerifiedToken]:
    # A frozen dataclass __init__ routes every field through
    # object.__setattr__, which costs microseconds on the verify hot path.
    # The slot descriptors set the same fields directly; the instance is the
    # same frozen VerifiedToken afterwards (mutation still raises).
    names = [f.name for f in fields(VerifiedToken)]
    setters = {f"_s_{n}": getattr(VerifiedToken, n).__set__ for n in names}
    body = "".join(f"    _s_{n}(o, {n})\n" for n in names)
    src = f"def make({', '.join(names)}):\n    o = _new(_cls)\n{body}    return o\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": VerifiedToken, **setters}
    exec(src, namespace)  # noqa: S102 - fixed source built from our own field names
    maker: Callable[..., VerifiedToken] = namespace["make"]
    return maker


make_verified_token = _fast_constructor()
"""Positional constructor equivalent to ``VerifiedToken(...)``, without the frozen-init cost."""
