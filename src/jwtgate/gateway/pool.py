"""Idle keep-alive connections of the lean upstream client, per upstream address."""

from __future__ import annotations

import asyncio

from jwtgate.gateway.client import Connection
from jwtgate.gateway.deadlines import Deadlines

__all__ = ["ConnectionPool"]


class ConnectionPool:
    """Idle keep-alive connections per ``(host, port)``."""

    def __init__(self, max_idle: int = 256) -> None:
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self._max_idle = max_idle
        self._deadlines: Deadlines | None = None

    def take(self, key: tuple[str, int]) -> Connection | None:
        """An idle connection to ``key`` (host, port) ready for a request, if any."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.reuse():
                return conn
        return None

    async def acquire(self, host: str, port: int, connect_timeout: float) -> Connection:
        """An idle connection to ``host:port``, or a new one."""
        key = (host, port)
        conn = self.take(key)
        if conn is not None:
            return conn
        loop = asyncio.get_running_loop()
        deadlines = self._deadlines
        if deadlines is None:
            deadlines = self._deadlines = Deadlines(loop)
        _, new = await asyncio.wait_for(
            loop.create_connection(lambda: Connection(key, deadlines), host, port),
            connect_timeout,
        )
        return new

    def release(self, conn: Connection) -> None:
        """Return a finished connection to the pool, or close it."""
        transport = conn.transport
        if transport is None:
            return
        idle = self._idle.get(conn.key)
        if idle is None:
            idle = self._idle[conn.key] = []
        if (
            conn.keep_alive
            and conn.complete
            and len(idle) < self._max_idle
            and not transport.is_closing()
        ):
            idle.append(conn)
        else:
            transport.close()

    def close(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            for conn in idle:
                if conn.transport is not None:
                    conn.transport.close()
        self._idle.clear()
