"""Auth server settings (stores, refresh families, throttling, cookies)."""

from __future__ import annotations

from jwtgate.config.base import Section

__all__ = ["AuthSettings"]


class AuthSettings(Section):
    """Settings of the auth server."""

    database_url: str | None = None
