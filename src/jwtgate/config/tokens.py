"""Token issuing and verification settings of the local issuer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from jwtgate.config.base import Section

__all__ = ["Algorithm", "TokenSettings"]

Algorithm = Literal["ES256", "RS256", "PS256", "EdDSA", "HS256"]


class TokenSettings(Section):
    """How the local issuer mints access tokens and how strictly they are checked."""

    issuer: str = Field(
        default="http://127.0.0.1:8080/auth",
        min_length=1,
        description="`iss` of minted tokens; the auth server's RFC 8414 issuer URL",
    )
    audience: str = Field(
        default="jwtgate", min_length=1, description="default `aud` of minted access tokens"
    )
    algorithm: Algorithm = Field(default="ES256", description="signing algorithm of new keys")
    rsa_bits: int = Field(
        default=3072, ge=2048, le=8192, description="modulus size of new RSA keys"
    )
    access_ttl: int = Field(default=900, gt=0, description="default access-token lifetime, s")
    max_ttl: int = Field(default=3600, gt=0, description="cap on any access-token lifetime, s")
    leeway: int = Field(default=30, ge=0, le=300, description="clock skew tolerance, s")
    max_token_bytes: int = Field(
        default=8192, ge=256, le=65536, description="tokens longer than this are refused unparsed"
    )
    cache_size: int = Field(default=10_000, ge=0, description="verified-token cache entries")
    rotation_interval: int | None = Field(
        default=None, gt=0, description="rotate the signing key automatically every N seconds"
    )

    @model_validator(mode="after")
    def _ttl_within_cap(self) -> TokenSettings:
        if self.access_ttl > self.max_ttl:
            raise ValueError("access_ttl must not exceed max_ttl")
        return self
