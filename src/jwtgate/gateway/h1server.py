"""The lean HTTP/1.1 server: listeners, timeouts, graceful drain.

uvicorn spends about as much CPU per request as the rest of the gateway's
hot path together; this server keeps only what the gateway needs (see
:mod:`jwtgate.gateway.h1proto`) and drives the same ASGI application, so the
pipeline, in-process components and streaming work unchanged. It has the
interface the worker uses for uvicorn: ``serve(sockets=...)``, ``started``,
``should_exit`` (drain: stop accepting, finish in-flight requests for up to
``drain_seconds``, close idle keep-alive connections) and ``force_exit``.

Timeouts are enforced by one sweep per listener (at most every second), not
by a timer per request: a request only stores its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Sequence

from jwtgate.gateway.asgi import ASGIApp
from jwtgate.gateway.h1proto import H1Protocol
from jwtgate.gateway.h1wire import H1Limits, ListenerState

__all__ = ["H1Limits", "LeanServer"]


class LeanServer:
    """Serve one ASGI application on already-bound sockets with the lean protocol."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: H1Limits | None = None,
        extra_headers: tuple[tuple[bytes, bytes], ...] = (),
        drain_seconds: float = 10.0,
    ) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.limits = limits or H1Limits()
        self.extra_headers = extra_headers
        self.drain_seconds = drain_seconds
        self.started = False
        self.state: ListenerState | None = None
        self._exit = asyncio.Event()
        self._force = asyncio.Event()
        self._started = asyncio.Event()

    async def wait_started(self) -> None:
        """Return once every socket accepts connections."""
        await self._started.wait()

    @property
    def should_exit(self) -> bool:
        """Setting this starts the graceful drain."""
        return self._exit.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._exit.set()

    @property
    def force_exit(self) -> bool:
        """Setting this ends the drain without waiting for in-flight requests."""
        return self._force.is_set()

    @force_exit.setter
    def force_exit(self, value: bool) -> None:
        if value:
            self._force.set()
            self._exit.set()

    async def serve(self, sockets: Sequence[socket.socket]) -> None:
        """Accept on ``sockets`` until ``should_exit``; then drain and return."""
        loop = asyncio.get_running_loop()
        limits = self.limits
        state = ListenerState(
            self.app,
            limits,
            tls=self.ssl_context is not None,
            extra_headers=self.extra_headers,
            loop=loop,
        )
        self.state = state
        servers: list[asyncio.Server] = []
        try:
            for sock in sockets:
                servers.append(
                    await loop.create_server(
                        lambda: H1Protocol(state),
                        sock=sock,
                        ssl=self.ssl_context,
                        backlog=2048,
                        ssl_handshake_timeout=limits.header_timeout if self.ssl_context else None,
                    )
                )
            self.started = True
            self._started.set()
            sweeper = loop.create_task(self._sweep(state))
            try:
                await self._exit.wait()
            finally:
                sweeper.cancel()
                await self._drain(state, servers)
        finally:
            for server in servers:
                server.close()

    async def _sweep(self, state: ListenerState) -> None:
        limits = state.limits
        shortest = min(limits.header_timeout, limits.keepalive_timeout, limits.io_timeout)
        interval = max(0.01, min(1.0, shortest / 4))
        while True:
            await asyncio.sleep(interval)
            state.sweep()

    async def _drain(self, state: ListenerState, servers: list[asyncio.Server]) -> None:
        """Stop accepting, close idle connections, wait for in-flight requests."""
        state.draining = True
        for server in servers:
            server.close()
        for conn in list(state.connections):
            conn.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_seconds
        while (
            any(c.busy for c in state.connections)
            and loop.time() < deadline
            and not self._force.is_set()
        ):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._force.wait(), 0.02)
        for conn in list(state.connections):
            cycle = conn.current
            if cycle is not None and cycle.task is not None:
                cycle.task.cancel()
            conn.abort()
        await asyncio.sleep(0)
