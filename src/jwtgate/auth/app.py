"""The FastAPI application: routes under the mount path, uniform error bodies, no 500 leaks.

Error bodies follow RFC 6749 section 5.2: ``{"error", "error_description"}``.
A pure-ASGI guard turns any unexpected exception into a bare 500
``server_error`` (logged server-side, nothing about it sent to the client);
``server_errors`` counts them so tests can prove hostile input never gets there.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jwtgate.auth.context import RouteContext
from jwtgate.auth.errors import AuthError
from jwtgate.auth.routes_meta import meta_router
from jwtgate.auth.routes_tokens import token_router
from jwtgate.errors import JwtGateError, TokenError

__all__ = ["ErrorCounter", "create_app", "error_response"]

_log = logging.getLogger("jwtgate.auth")


class ErrorCounter:
    """How many requests ended in an unexpected server error."""

    def __init__(self) -> None:
        self.count = 0


def error_response(
    code: str, description: str, status: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An RFC 6749-style error response (never cached)."""
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse(
        {"error": code, "error_description": description}, status_code=status, headers=all_headers
    )


async def _jwtgate_error(_request: Request, exc: Exception) -> Response:
    if isinstance(exc, AuthError):
        return error_response(exc.code, exc.description, exc.status, exc.response_headers())
    if isinstance(exc, TokenError):
        # RFC 6750 section 3.1, worded as the gateway words it; descriptions are
        # fixed strings of ours (no quote or backslash), never token text.
        challenge = (
            f'Bearer realm="jwtgate", error="invalid_token", error_description="{exc.description}"'
        )
        return error_response(
            "invalid_token", exc.description, 401, {"WWW-Authenticate": challenge}
        )
    if isinstance(exc, JwtGateError) and exc.status == 503:
        # e.g. revocation_unavailable: the revocation is stored in the database
        # and published once the store is back; the client may simply retry
        # (RFC 6749 section 4.1.2.1 names this error temporarily_unavailable).
        _log.warning("auth server dependency unavailable: %s", exc.code)
        return error_response("temporarily_unavailable", exc.description, 503, {"Retry-After": "5"})
    if not isinstance(exc, JwtGateError) or exc.status >= 500:
        if isinstance(exc, JwtGateError):  # operator log only; never sent to the client
            _log.error("auth server error %s: %s", exc.code, exc.detail or exc.description)
        else:
            _log.error("auth server error %s", type(exc).__name__)
        return error_response("server_error", "internal error", 500)
    return error_response(exc.code, exc.description, exc.status)


async def _http_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):
        return error_response("invalid_request", "the request is invalid", 400)
    if exc.status_code == 405:
        return error_response(
            "method_not_allowed", "method not allowed", 405, dict(exc.headers or {})
        )
    if exc.status_code == 404:
        return error_response("not_found", "not found", 404)
    return error_response("invalid_request", "the request is invalid", exc.status_code)


async def _validation_error(_request: Request, _exc: Exception) -> Response:
    return error_response("invalid_request", "the request is invalid", 400)


Endpoint = Callable[[Request], Awaitable[Response]]


class _Guard:
    """Catch-all: an unexpected exception becomes a detail-free 500, and is logged.

    It also dispatches the two hot endpoints (``POST /token`` and ``/login``)
    straight to their handlers, skipping FastAPI's per-request routing and
    dependency resolution (they take the raw ``Request`` and parse the body
    themselves); errors are rendered by the same handler as everywhere else.
    """

    def __init__(
        self, app: ASGIApp, counter: ErrorCounter, fast: dict[str, Endpoint] | None = None
    ) -> None:
        self._app = app
        self._counter = counter
        self._fast = fast or {}

    async def _direct(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except JwtGateError as exc:
            response = await _jwtgate_error(request, exc)
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def _send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        endpoint = self._fast.get(scope["path"]) if scope["method"] == "POST" else None
        try:
            if endpoint is not None:
                await self._direct(endpoint, scope, receive, _send)
            else:
                await self._app(scope, receive, _send)
        except Exception:
            self._counter.count += 1
            _log.exception("unexpected error in the auth server")
            if not started:
                response = error_response("server_error", "internal error", 500)
                await response(scope, receive, send)


def create_app(ctx: RouteContext, counter: ErrorCounter) -> FastAPI:
    """Build the auth application with every path under ``auth.mount_path``."""
    mount = ctx.config.auth.mount_path
    extra: dict[str, Any] = {}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        # Newer FastAPI checks for OpenTelemetry on every request; we export none.
        extra["telemetry"] = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(
        title="jwtgate auth server",
        version="1",
        description="Login, OAuth 2.0 token endpoint with refresh rotation, revocation, "
        "introspection and discovery.",
        openapi_url=f"{mount}/openapi.json",
        docs_url=None,  # the default Swagger UI loads from a CDN; /docs is self-contained
        redoc_url=None,
        **extra,
    )
    tokens = token_router(ctx)
    app.include_router(tokens, prefix=mount)
    app.include_router(meta_router(ctx), prefix=mount)
    handlers: dict[Any, Any] = {
        JwtGateError: _jwtgate_error,
        StarletteHTTPException: _http_error,
        RequestValidationError: _validation_error,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)
    fast = {
        f"{mount}{route.path}": route.endpoint
        for route in tokens.routes
        if isinstance(route, APIRoute) and route.path in ("/token", "/login")
    }
    app.add_middleware(_Guard, counter=counter, fast=fast)
    return app
