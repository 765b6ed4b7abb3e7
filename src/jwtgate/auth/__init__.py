"""The auth server: login, refresh rotation with reuse detection, revocation, discovery.

``AuthServer`` is the component the gateway mounts at ``/auth``;
``AuthAdmin`` is the administrative API used by the CLI and the demo;
``serve_standalone`` runs the auth server alone.
"""

from __future__ import annotations

from jwtgate.auth.admin import AuthAdmin
from jwtgate.auth.errors import AuthError
from jwtgate.auth.server import AuthServer, serve_standalone
from jwtgate.auth.users import ClientInfo, UserInfo

__all__ = ["AuthAdmin", "AuthError", "AuthServer", "ClientInfo", "UserInfo", "serve_standalone"]
