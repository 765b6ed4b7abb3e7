"""Discovery and read-only endpoints: JWKS, RFC 8414 metadata, ``/me``, audit, docs."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from jwtgate.auth.context import RouteContext
from jwtgate.auth.errors import InsufficientRole, InvalidRequest

__all__ = ["meta_router", "server_metadata"]

_MAX_AUDIT = 500


def server_metadata(ctx: RouteContext) -> dict[str, Any]:
    """RFC 8414 authorization server metadata, derived from ``tokens.issuer``."""
    issuer = ctx.config.tokens.issuer.rstrip("/")
    grants = ["refresh_token", "client_credentials"]
    if ctx.config.auth.password_grant:
        grants.append("password")
    client_auth = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": ctx.config.tokens.issuer,
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": grants,
        # No authorization endpoint (RFC 8414 section 2: required only with one).
        "response_types_supported": [],
        "scopes_supported": list(ctx.config.auth.user_scopes),
        "token_endpoint_auth_methods_supported": [*client_auth, "none"],
        "revocation_endpoint_auth_methods_supported": [*client_auth, "none"],
        "introspection_endpoint_auth_methods_supported": client_auth,
        "access_token_signing_alg_values_supported": [ctx.config.tokens.algorithm],
        "service_documentation": f"{issuer}/docs",
    }


def meta_router(ctx: RouteContext) -> APIRouter:
    """Discovery, caller and audit endpoints, bound to ``ctx``."""
    router = APIRouter()
    max_age = ctx.config.auth.jwks_max_age
    docs_html = resources.files("jwtgate.auth").joinpath("data/docs.html").read_text("utf-8")

    @router.get("/.well-known/jwks.json", summary="Public signing keys (RFC 7517)")
    async def jwks() -> Response:
        """The issuer's public keys; short-cached so rotations propagate quickly."""
        ctx.keyring.reload_if_changed()
        return JSONResponse(
            ctx.keyring.jwks(), headers={"Cache-Control": f"public, max-age={max_age}"}
        )

    @router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 metadata")
    async def metadata() -> Response:
        """Authorization server metadata, consistent with the tokens' ``iss``."""
        return JSONResponse(
            server_metadata(ctx), headers={"Cache-Control": f"public, max-age={max_age}"}
        )

    @router.get("/me", summary="Claims of the caller's access token")
    async def me(request: Request) -> Response:
        """The verified claims of the caller (Bearer token or access cookie)."""
        verified = ctx.require_caller(request, unsafe=False)
        return JSONResponse(dict(verified.claims), headers={"Cache-Control": "no-store"})

    @router.get("/admin/audit", summary="Recent audit events (role admin)")
    async def audit(request: Request) -> Response:
        """The newest audit events, newest first; ``?limit=N`` (1..500, default 50)."""
        verified = ctx.require_caller(request, unsafe=False)
        if "admin" not in verified.roles:
            raise InsufficientRole("the admin role is required")
        raw = request.query_params.getlist("limit")
        if len(raw) > 1 or (raw and not (raw[0].isdigit() and 1 <= int(raw[0]) <= _MAX_AUDIT)):
            raise InvalidRequest(f"limit must be an integer from 1 to {_MAX_AUDIT}")
        limit = int(raw[0]) if raw else 50
        events = ctx.core.audit.recent(limit)
        return JSONResponse({"events": events}, headers={"Cache-Control": "no-store"})

    @router.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        """Interactive API docs that work offline (no CDN)."""
        return HTMLResponse(
            docs_html,
            headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": (
                    "default-src 'none'; script-src 'self' 'unsafe-inline'; "
                    "style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; "
                    "form-action 'none'; frame-ancestors 'none'"
                ),
            },
        )

    return router
