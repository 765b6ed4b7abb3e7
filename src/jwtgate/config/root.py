"""The whole configuration: one frozen object, loaded once at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from jwtgate.config.auth import AuthSettings
from jwtgate.config.base import Section
from jwtgate.config.gateway import GatewaySettings, is_loopback_host
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

    @model_validator(mode="after")
    def _cookies_stay_secure_off_loopback(self) -> JwtGateConfig:
        # Without Secure a session cookie also travels over plain HTTP; that is
        # only acceptable where nothing leaves the machine (RFC 6265bis 8.6).
        cookies = self.auth.cookies
        if not cookies.secure and not cookies.demo_on_network:
            for index, listener in enumerate(self.gateway.listeners):
                if not is_loopback_host(listener.host):
                    raise ValueError(
                        "auth.cookies.secure: false is only allowed when every listener is "
                        f"on loopback; gateway.listeners[{index}].host is {listener.host!r}"
                    )
        return self
