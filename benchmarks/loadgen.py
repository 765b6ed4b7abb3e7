"""A minimal keep-alive HTTP/1.1 load generator for the auth benchmark.

The load generator shares the two cores with the server it measures, so it
must cost as little as possible per request: aiohttp's client took about
250 us of CPU per refresh, about half of what the server itself spends. This
client writes pre-formatted request bytes and reads only the status line,
``Content-Length`` and the body (the auth server always answers with a
length; chunked responses are not supported and fail loudly).
"""

from __future__ import annotations

import asyncio
import re

__all__ = ["Connection", "post"]

_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._transport: asyncio.Transport | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        """Connect to ``host:port``."""
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return
        match = _LENGTH.search(self._buf, 0, end + 2)
        if match is None:
            self._fail(RuntimeError("response without Content-Length"))
            return
        total = end + 4 + int(match.group(1))
        if len(self._buf) < total:
            return
        status = int(self._buf[9:12])
        body = bytes(self._buf[end + 4 : total])
        del self._buf[:total]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("the server closed the connection"))

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one complete request; return ``(status, body)``."""
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(raw)
        return await self._waiter

    def close(self) -> None:
        """Close the connection."""
        if self._transport is not None:
            self._transport.close()


def post(host: str, port: int, path: str, content_type: str, body: bytes) -> bytes:
    """The bytes of a keep-alive ``POST`` with ``body``."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("ascii") + body
