"""uvicorn as the gateway's HTTP server (``gateway.http_server: uvicorn``).

Kept apart from :mod:`jwtgate.gateway.worker` so that a worker on the lean
server never imports uvicorn.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import Generator

import uvicorn

from jwtgate.gateway.asgi import ASGIApp
from jwtgate.gateway.httpserver import CoalescingHttpToolsProtocol

__all__ = ["UvicornServer", "uvicorn_config"]


class UvicornServer(uvicorn.Server):
    """A uvicorn server whose signals are handled by the worker, not by uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def uvicorn_config(
    app: ASGIApp,
    drain: float,
    ssl_context: ssl.SSLContext | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> uvicorn.Config:
    """uvicorn settings for one listener (``ssl_context`` ``None``: plain HTTP)."""
    config = uvicorn.Config(
        app,
        http=CoalescingHttpToolsProtocol,
        interface="asgi3",
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        date_header=True,
        # The gateway decides which proxies to believe (trusted_proxies);
        # uvicorn must not rewrite the client address from X-Forwarded-For.
        proxy_headers=False,
        headers=headers or [],
        timeout_graceful_shutdown=math.ceil(drain) if drain > 0 else None,
    )
    config.load()
    if ssl_context is not None:
        config.ssl = ssl_context
    return config
