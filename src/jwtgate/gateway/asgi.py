"""The ASGI 3 interface as the gateway sees it, and reading request bodies from it.

Both servers (the lean one and uvicorn) hand the gateway ``receive`` and
``send`` callables; the proxy, the in-process upstreams and the pipeline all
speak in these types. A body is read whole (small ones) or streamed, never
past the route's ``max_body_bytes``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from jwtgate.gateway.errors import BodyTooLarge

__all__ = [
    "ASGIApp",
    "ClientGone",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "read_limited",
    "stream_limited",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected while its body was being read."""


async def read_limited(receive: Receive, limit: int) -> bytes:
    """Read a whole request body, raising :class:`BodyTooLarge` past ``limit``."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks) if len(chunks) != 1 else chunks[0]


async def stream_limited(
    receive: Receive, limit: int, flags: dict[str, bool]
) -> AsyncIterator[bytes]:
    """Yield a request body's chunks, raising :class:`BodyTooLarge` past ``limit``.

    ``flags`` records why the stream stopped (``gone``, ``too_large``): the
    HTTP client consuming it reports only an error of its own.
    """
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            flags["gone"] = True
            raise ClientGone
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            flags["too_large"] = True
            raise BodyTooLarge()
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
