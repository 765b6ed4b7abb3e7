"""The gateway as a raw ASGI application (no framework routing on the hot path).

:class:`GatewayApp` answers ``/healthz`` and ``/readyz`` itself and hands
every other HTTP request to the pipeline with the current :class:`Policy`.
A reload swaps that one reference. :class:`AdminApp` serves the admin
listener: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz``.
"""

from __future__ import annotations

from collections.abc import Awaitable, MutableMapping
from typing import Any

from jwtgate.gateway.asgi import Receive, Send
from jwtgate.gateway.lane import Lane
from jwtgate.gateway.pipeline import handle
from jwtgate.gateway.state import Policy, Resources

__all__ = ["AdminApp", "GatewayApp"]

_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")


async def _reply(send: Send, status: int, body: bytes, ctype: tuple[bytes, bytes] = _JSON) -> None:
    headers = [ctype, _NO_STORE, (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _lifespan(receive: Receive, send: Send) -> None:
    # Resources are owned by the server, not by ASGI lifespan; acknowledge only.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class GatewayApp:
    """The gateway's ASGI application for the public listeners."""

    def __init__(self, policy: Policy, resources: Resources) -> None:
        self.policy = policy
        self.resources = resources
        self.ready = False
        # The lean server hands it the requests it can carry without a task.
        self.lane = Lane(self)

    def swap(self, policy: Policy) -> Policy:
        """Install a new policy atomically; returns the old one (to be closed)."""
        old, self.policy = self.policy, policy
        return old

    async def health(self, path: str, send: Send) -> bool:
        """Answer ``/healthz`` (alive) and ``/readyz`` (serving, not draining)."""
        if path == "/healthz":
            await _reply(send, 200, b'{"status":"ok"}')
            return True
        if path == "/readyz":
            if self.ready:
                await _reply(send, 200, b'{"status":"ready"}')
            else:
                await _reply(send, 503, b'{"status":"not_ready"}')
            return True
        return False

    def __call__(
        self, scope: MutableMapping[str, Any], receive: Receive, send: Send
    ) -> Awaitable[None]:
        """ASGI entry point: a proxied request is the pipeline's coroutine itself.

        Not a coroutine function, to save a coroutine per request; uvicorn is
        told the interface is ASGI 3 rather than guessing it from that.
        """
        if scope["type"] == "http":
            path = scope["path"]
            if path != "/healthz" and path != "/readyz":
                return handle(scope, receive, send, self.policy, self.resources)
        return self._other(scope, receive, send)

    async def _other(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.health(scope["path"], send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        else:  # websocket: not proxied; refuse the handshake
            await send({"type": "websocket.close", "code": 1008})


class AdminApp:
    """The admin listener: metrics and health, nothing else."""

    def __init__(self, gateway: GatewayApp) -> None:
        self.gateway = gateway

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        path = scope["path"]
        if await self.gateway.health(path, send):
            return
        metrics = self.gateway.resources.metrics
        if path == "/metrics" and metrics is not None:
            body, ctype = metrics.render()
            await _reply(send, 200, body, (b"content-type", ctype.encode("latin-1")))
            return
        await _reply(send, 404, b'{"error":"not_found","error_description":"no such endpoint"}')
