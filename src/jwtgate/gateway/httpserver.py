"""uvicorn's httptools protocol, with the response head and body in one write.

uvicorn writes the status line and headers when the application sends
``http.response.start`` and the body on ``http.response.body``: two system
calls and two TCP segments per small response. Measured here, that second
write is a large share of the server's per-request CPU time. This subclass
holds the head back until the first body write (or the end of the response,
for ``HEAD`` / empty bodies) and sends both together. Interim ``1xx``
responses (``100 Continue``) are never held, since the client waits for them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol"]


class _CoalescingTransport:
    """Delegates to a transport, holding a response head until the next write."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        """Hold a final response head; otherwise write (with any held head)."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:9] == b"HTTP/1.1 " and data[9:10] != b"1":
            self._held = data
        elif data:
            self._transport.write(data)

    def flush(self) -> None:
        """Write a held head now."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        """Flush, then close."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's ``HttpToolsProtocol`` writing each small response in one system call."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the transport before uvicorn keeps a reference to it."""
        super().connection_made(_CoalescingTransport(transport))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        """A response without body bytes (HEAD, 204) still gets its head written."""
        flush = getattr(self.transport, "flush", None)
        if flush is not None:
            flush()
        super().on_response_complete()
