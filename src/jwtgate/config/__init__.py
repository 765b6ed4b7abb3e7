"""Typed, frozen configuration loaded once from YAML."""

from __future__ import annotations

from jwtgate.config.auth import AuthSettings
from jwtgate.config.gateway import GatewaySettings
from jwtgate.config.loader import format_location, load_config, load_config_text
from jwtgate.config.root import JwtGateConfig
from jwtgate.config.shared import RedisSettings, RevocationSettings
from jwtgate.config.tokens import TokenSettings

__all__ = [
    "AuthSettings",
    "GatewaySettings",
    "JwtGateConfig",
    "RedisSettings",
    "RevocationSettings",
    "TokenSettings",
    "format_location",
    "load_config",
    "load_config_text",
]
