"""The streaming side of a lean upstream connection: bodies that do not fit one write.

A base of :class:`~jwtgate.gateway.client.Connection`. A request body of
unknown length goes out with chunked coding (RFC 9112 section 7.1), waiting
while the socket buffer is full; a response body comes in as it arrives,
reading resumed once the client has taken what was buffered (the
connection pauses reading past its high-water mark). The common small
request and response never come here.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from jwtgate.gateway.upstream_wait import UpstreamClosed

__all__ = ["LOW_WATER", "Streaming"]

LOW_WATER = 1 << 18  # buffered response bytes below which reading resumes


class Streaming:
    """Chunked request bodies out, response bodies in (what it reads of the connection)."""

    # The connection's own.
    transport: asyncio.Transport | None
    error: UpstreamClosed | None
    complete: bool
    _body: deque[bytes]
    _buffered: int
    _paused: bool
    _write_ready: asyncio.Future[None] | None

    def _resume(self) -> None:
        """Resume reading (the connection's own)."""
        raise NotImplementedError

    async def _wait(self, seconds: float) -> None:
        """Wait for progress (the connection's own, from ``Waits``)."""
        raise NotImplementedError

    async def send(self, head: bytes, body: AsyncIterator[bytes]) -> None:
        """Write the request head, then ``body`` with chunked coding."""
        transport = self.transport
        if transport is None:
            raise UpstreamClosed(True)
        transport.write(head)
        async for chunk in body:
            if self.error is not None:
                raise self.error
            if chunk:
                transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            if self._write_ready is not None:
                await self._write_ready
        transport.write(b"0\r\n\r\n")

    async def chunks(self, seconds: float) -> AsyncIterator[bytes]:
        """The response body as it arrives."""
        body = self._body
        while True:
            while body:
                chunk = body.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < LOW_WATER:
                    self._resume()
                yield chunk
            if self.complete:
                return
            if self.error is not None:
                raise self.error
            await self._wait(seconds)
