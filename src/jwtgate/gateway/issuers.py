"""Trusted issuers of the gateway, compiled once at start with every default resolved.

An issuer without its own ``leeway`` or ``max_lifetime`` takes the ``tokens``
section's; a relative ``jwks_file`` is read from the data directory.  With
no ``gateway.issuers`` at all, the gateway trusts the local keyring's issuer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jwtgate.config import JwtGateConfig
from jwtgate.errors import ConfigError

__all__ = ["IssuerSpec", "compile_issuers"]


@dataclass(frozen=True, slots=True)
class IssuerSpec:
    """One trusted issuer with every default resolved."""

    issuer: str
    audiences: frozenset[str]
    algorithms: frozenset[str]
    source: Literal["keyring", "jwks_url", "jwks_file"]
    jwks_url: str | None
    jwks_file: Path | None
    jwks_ttl: float
    jwks_cooldown: float
    leeway: float
    max_lifetime: float


def compile_issuers(config: JwtGateConfig) -> tuple[IssuerSpec, ...]:
    """The trusted issuers, defaults resolved; the ``tokens`` issuer alone when none is set."""
    tokens = config.tokens
    settings = config.gateway.issuers
    if settings is None:
        return (
            IssuerSpec(
                issuer=tokens.issuer,
                audiences=frozenset({tokens.audience}),
                algorithms=frozenset({tokens.algorithm}),
                source="keyring",
                jwks_url=None,
                jwks_file=None,
                jwks_ttl=300.0,
                jwks_cooldown=30.0,
                leeway=float(tokens.leeway),
                max_lifetime=float(tokens.max_ttl),
            ),
        )
    out = []
    for i, s in enumerate(settings):
        where = f"gateway.issuers[{i}]"
        algorithms = frozenset(s.algorithms or (tokens.algorithm,))
        if s.keyring and tokens.algorithm not in algorithms:
            raise ConfigError(f"{where}.algorithms: must include tokens.algorithm for the keyring")
        source: Literal["keyring", "jwks_url", "jwks_file"] = (
            "keyring" if s.keyring else "jwks_url" if s.jwks_url else "jwks_file"
        )
        jwks_file = s.jwks_file
        if jwks_file is not None and not jwks_file.is_absolute():
            jwks_file = config.data_dir / jwks_file
        out.append(
            IssuerSpec(
                issuer=s.issuer,
                audiences=frozenset(s.audiences),
                algorithms=algorithms,
                source=source,
                jwks_url=s.jwks_url,
                jwks_file=jwks_file,
                jwks_ttl=s.jwks_ttl,
                jwks_cooldown=s.jwks_cooldown,
                leeway=float(tokens.leeway if s.leeway is None else s.leeway),
                max_lifetime=float(tokens.max_ttl if s.max_lifetime is None else s.max_lifetime),
            )
        )
    return tuple(out)
