"""The whole configuration: one frozen object, loaded once at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from jwtgate.config.auth import AuthSettings
from jwtgate.config.base import Section
from jwtgate.config.gateway import GatewaySettings
from jwtgate.config.shared import RedisSettings, RevocationSettings
from jwtgate.config.tokens import TokenSettings

__all__ = ["JwtGateConfig"]


class JwtGateConfig(Section):
    """Top-level configuration; every section has working embedded defaults."""

    data_dir: Path = Field(
        default=Path(".jwtgate"),
        description="keys, the SQLite database and the audit log live here",
    )
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    revocation: RevocationSettings = Field(default_factory=RevocationSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
