"""The demo upstream (``internal://echo``): answers with exactly what it received.

It lets anyone see what the gateway forwards: which identity headers it
added, that spoofed ``X-User-*`` headers were stripped and that the
``Authorization`` header is not passed on by default.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "EchoUpstream", "echo_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3 application."""


async def _drain(receive: Receive) -> int:
    # The body is counted, never kept: the echo reports its size only.
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return size
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return size


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI app answering ``{"method", "path", "query", "headers", "body_bytes"}``.

    ``headers`` is the list of ``[name, value]`` pairs in arrival order, so
    repeated headers and their order are visible exactly.
    """
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    body_bytes = await _drain(receive)
    payload = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope.get("query_string", b"").decode("latin-1"),
        "headers": [
            [name.decode("latin-1"), value.decode("latin-1")]
            for name, value in scope.get("headers", ())
        ],
        "body_bytes": body_bytes,
    }
    body = json.dumps(payload, indent=2).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class EchoUpstream:
    """The echo upstream as a runtime component (nothing to start or close)."""

    def __init__(self) -> None:
        self.app: ASGIApp = echo_app

    async def start(self) -> None:
        """Nothing to start."""

    async def close(self) -> None:
        """Nothing to release."""
