"""jwtgate: a JWT auth server, API gateway and tooling for JWT-secured APIs."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
