"""Stage 7b: send the request upstream and stream the answer back.

One pooled keep-alive client per worker (aiohttp ``TCPConnector``); bodies
stream both ways; redirects are never followed, cookies never stored and
content never decoded, so the upstream's bytes reach the client unchanged.
``internal://NAME`` upstreams are ASGI applications called in-process with
an adjusted scope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
from yarl import URL

from jwtgate.gateway.errors import BadGateway, BodyTooLarge, GatewayTimeout
from jwtgate.gateway.headers import HOP_BY_HOP

__all__ = [
    "ASGIApp",
    "ClientGone",
    "Message",
    "Receive",
    "Send",
    "Upstream",
    "call_internal",
    "read_limited",
]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

_SMALL_BODY = 64 * 1024


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


async def _stream(receive: Receive, limit: int, flags: dict[str, bool]) -> AsyncIterator[bytes]:
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


def _response_headers(raw: tuple[tuple[bytes, bytes], ...]) -> list[tuple[bytes, bytes]]:
    named: set[bytes] = set()
    for name, value in raw:
        if name.lower() == b"connection":
            named.update(t.strip().lower() for t in value.split(b","))
    out = []
    for name, value in raw:
        lname = name.lower()
        # uvicorn writes its own Date (RFC 9110 section 6.6.1); do not send two.
        if lname not in HOP_BY_HOP and lname not in named and lname != b"date":
            out.append((lname, value))
    return out


class Upstream:
    """The worker's pooled HTTP client for URL upstreams."""

    def __init__(self, *, limit: int = 1024, keepalive: float = 60.0) -> None:
        self._limit = limit
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool."""
        connector = aiohttp.TCPConnector(
            limit=self._limit, keepalive_timeout=self._keepalive, ttl_dns_cache=60
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forward(
        self,
        url: str,
        method: str,
        headers: list[tuple[bytes, bytes]],
        receive: Receive,
        send: Send,
        *,
        has_body: bool,
        content_length: int | None,
        max_body: int,
        connect_timeout: float,
        read_timeout: float,
    ) -> int:
        """Proxy one request; returns the upstream status.

        Raises :class:`BadGateway` / :class:`GatewayTimeout` /
        :class:`BodyTooLarge` only while nothing has been sent to the client.
        """
        session = self._session
        if session is None:
            raise BadGateway()
        flags: dict[str, bool] = {}
        data: bytes | AsyncIterator[bytes] | None = None
        if has_body:
            if content_length is not None and content_length <= _SMALL_BODY:
                data = await read_limited(receive, max_body)
            else:
                data = _stream(receive, max_body, flags)
        str_headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        started = False
        try:
            async with session.request(
                method,
                URL(url, encoded=True),
                headers=str_headers,
                data=data,
                allow_redirects=False,
                timeout=timeout,
                compress=None,
            ) as resp:
                await send(
                    {
                        "type": "http.response.start",
                        "status": resp.status,
                        "headers": _response_headers(resp.raw_headers),
                    }
                )
                started = True
                async for chunk in resp.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return resp.status
        except TimeoutError:
            if started:
                raise
            raise GatewayTimeout() from None
        except aiohttp.ClientError:
            if started:
                raise
            if flags.get("too_large"):
                raise BodyTooLarge() from None
            raise BadGateway() from None


async def call_internal(
    app: ASGIApp, scope: MutableMapping[str, Any], receive: Receive, send: Send
) -> int:
    """Call an in-process ASGI app; returns the status it sent (502 if none)."""
    status = 0

    async def capture(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        await send(message)

    await app(scope, receive, capture)
    if status == 0:
        raise BadGateway()
    return status
