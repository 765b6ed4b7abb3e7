"""Gateway settings (listeners, issuers, routes)."""

from __future__ import annotations

from jwtgate.config.base import Section

__all__ = ["GatewaySettings"]


class GatewaySettings(Section):
    """Settings of the API gateway."""
