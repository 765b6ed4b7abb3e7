"""Stage 7b: send the request upstream and stream the answer back.

Pooled keep-alive connections per worker: the lean client of
:mod:`jwtgate.gateway.client` for ordinary requests, aiohttp (opened on first
use) for what that client does not take. Bodies stream both ways; redirects
are never followed, cookies never stored and content never decoded, so the
upstream's bytes reach the client unchanged.
``internal://NAME`` upstreams are ASGI applications called in-process with
an adjusted scope.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jwtgate.gateway.client import ConnectionPool, UpstreamClosed
from jwtgate.gateway.errors import BadGateway, BodyTooLarge, GatewayTimeout
from jwtgate.gateway.h1cycle import Cycle
from jwtgate.gateway.headers import HOP_BY_HOP

if TYPE_CHECKING:
    import aiohttp

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
_log = logging.getLogger("jwtgate.gateway")


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


# uvicorn and the lean server write their own Date (RFC 9110 section 6.6.1); do not send two.
_DROPPED = HOP_BY_HOP | {b"date"}


def _without_named(
    headers: list[tuple[bytes, bytes]], connection: list[bytes]
) -> list[tuple[bytes, bytes]]:
    """``headers`` minus the fields the response's ``Connection`` values name.

    RFC 9110 section 7.6.1: they are hop-by-hop too. ``keep-alive``, the
    common value, names a field that is already hop-by-hop.
    """
    named: set[bytes] | None = None
    for value in connection:
        if value.lower() != b"keep-alive":
            named = (named or set()) | {t.strip().lower() for t in value.split(b",")}
    if not named:
        return headers
    return [(name, value) for name, value in headers if name not in named]


def _response_headers(
    raw: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers minus hop-by-hop ones and Date, names in lower case."""
    lowered = [(name.lower(), value) for name, value in raw]
    kept = [(name, value) for name, value in lowered if name not in _DROPPED]
    return _without_named(kept, [value for name, value in lowered if name == b"connection"])


_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "OPTIONS", "TRACE"})
_NEEDS_LENGTH = frozenset({"POST", "PUT", "PATCH"})
_Target = tuple[str, int, bytes, bytes]  # host, port, Host header, base path


def _target(base: str) -> _Target | None:
    """Where a plain-HTTP upstream lives; None for upstreams the lean client skips."""
    parts = urlsplit(base)
    if parts.scheme != "http" or parts.hostname is None:
        return None
    port = parts.port or 80
    host_header = parts.netloc.rsplit("@", 1)[-1].encode("idna")
    return parts.hostname, port, host_header, parts.path.rstrip("/").encode("latin-1")


def _head(method: str, target: bytes, host: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    parts = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    for name, value in headers:
        # Expect is answered by our own server; forwarding it would make the
        # upstream send an interim 100 response we have no use for.
        if name != b"expect":
            parts += (name, b": ", value, b"\r\n")
    return b"".join(parts)


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class Upstream:
    """The worker's pooled HTTP client for URL upstreams."""

    def __init__(self, *, limit: int = 1024, keepalive: float = 60.0) -> None:
        self._limit = limit
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None
        self._started = False
        self._pool = ConnectionPool()
        self._targets: dict[str, _Target | None] = {}

    async def start(self) -> None:
        """Allow requests; the fallback client's session opens on first use."""
        self._started = True

    def _fallback_session(self) -> aiohttp.ClientSession:
        # Imported here: aiohttp costs every worker several MB of memory, and
        # only requests the lean client does not take (see client.py) need it.
        import aiohttp

        if self._session is None:
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
        return self._session

    async def close(self) -> None:
        """Close pooled connections."""
        self._pool.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def forward(
        self,
        base: str,
        target: bytes,
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
    ) -> Awaitable[int]:
        """Proxy one request to ``base`` + ``target`` (path and query); awaits to the status.

        Raises :class:`BadGateway` / :class:`GatewayTimeout` /
        :class:`BodyTooLarge` only while nothing has been sent to the client.
        A request without a body to a plain-HTTP upstream is the lean
        client's coroutine itself (one coroutine less per request).
        """
        targets = self._targets
        if base in targets:
            lean = targets[base]
        else:
            lean = targets[base] = _target(base)
        if lean is not None and not has_body and method != "HEAD":
            return self._lean(
                lean, target, method, headers, None, send, connect_timeout, read_timeout
            )
        return self._forward(
            base,
            lean,
            target,
            method,
            headers,
            receive,
            send,
            has_body,
            content_length,
            max_body,
            connect_timeout,
            read_timeout,
        )

    async def _forward(
        self,
        base: str,
        lean: _Target | None,
        target: bytes,
        method: str,
        headers: list[tuple[bytes, bytes]],
        receive: Receive,
        send: Send,
        has_body: bool,
        content_length: int | None,
        max_body: int,
        connect_timeout: float,
        read_timeout: float,
    ) -> int:
        flags: dict[str, bool] = {}
        data: bytes | AsyncIterator[bytes] | None = None
        if has_body:
            if content_length is not None and content_length <= _SMALL_BODY:
                data = await read_limited(receive, max_body)
            else:
                data = _stream(receive, max_body, flags)
        if lean is not None and method != "HEAD":
            return await self._lean(
                lean, target, method, headers, data, send, connect_timeout, read_timeout
            )
        url = base + target.decode("latin-1")
        return await self._aiohttp(
            url, method, headers, data, send, flags, connect_timeout, read_timeout
        )

    async def _lean(
        self,
        where: _Target,
        target: bytes,
        method: str,
        headers: list[tuple[bytes, bytes]],
        data: bytes | AsyncIterator[bytes] | None,
        send: Send,
        connect_timeout: float,
        read_timeout: float,
    ) -> int:
        host, port, host_header, base_path = where
        head = _head(method, base_path + target, host_header, headers)
        if isinstance(data, bytes):
            request = head + b"content-length: %d\r\n\r\n%b" % (len(data), data)
        elif data is not None:
            request = head + b"transfer-encoding: chunked\r\n\r\n"
        else:
            request = head + (b"content-length: 0\r\n\r\n" if method in _NEEDS_LENGTH else b"\r\n")
        whole = data is None or isinstance(data, bytes)  # no ABC isinstance per request
        retry = whole and method in _IDEMPOTENT
        pool = self._pool
        key = (host, port)
        while True:
            conn = pool.take(key)
            if conn is None:
                try:
                    conn = await pool.acquire(host, port, connect_timeout)
                except TimeoutError:
                    raise GatewayTimeout() from None
                except OSError:
                    raise BadGateway() from None
            try:
                if data is None or isinstance(data, bytes):
                    conn.write(request)
                else:
                    await conn.send(request, data)
                await conn.response(read_timeout)
                break
            except UpstreamClosed as exc:
                # A pooled connection the upstream closed while idle fails
                # before any response byte; RFC 9110 section 9.2.2 lets an
                # idempotent request be retried once on a fresh connection.
                if retry and conn.reused and exc.before_response:
                    retry = False
                    continue
                raise BadGateway() from None
            except TimeoutError:
                conn.close()
                raise GatewayTimeout() from None
            except BaseException:
                conn.close()
                raise
        status = conn.status
        headers = _without_named(conn.headers, conn.connection)
        if conn.complete:
            # The whole (small) response is already here: one body write, not
            # a chunk plus an empty terminator (each write is a system call).
            body = conn.take_body()
            pool.release(conn)
            # The lean server's request takes it directly, without ASGI messages.
            cycle = getattr(send, "__self__", None)
            if type(cycle) is Cycle and cycle.respond(status, headers, body):
                return status
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        try:
            async for chunk in conn.chunks(read_timeout):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except BaseException:
            conn.close()
            raise
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        pool.release(conn)
        return status

    async def _aiohttp(
        self,
        url: str,
        method: str,
        headers: list[tuple[bytes, bytes]],
        data: bytes | AsyncIterator[bytes] | None,
        send: Send,
        flags: dict[str, bool],
        connect_timeout: float,
        read_timeout: float,
    ) -> int:
        if not self._started:
            raise BadGateway()
        import aiohttp
        from yarl import URL

        session = self._fallback_session()
        # aiohttp encodes header values as UTF-8, so hand it the text those bytes spell.
        str_headers = [(n.decode("latin-1"), _text(v)) for n, v in headers]
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


def _limited(receive: Receive, limit: int) -> Receive:
    total = 0

    async def limited() -> Message:
        nonlocal total
        message = await receive()
        total += len(message.get("body", b""))
        if total > limit:
            raise BodyTooLarge()
        return message

    return limited


async def call_internal(
    app: ASGIApp,
    scope: MutableMapping[str, Any],
    receive: Receive,
    send: Send,
    max_body: int,
) -> int:
    """Call an in-process ASGI app; returns the status it sent (502 if none).

    The body the app reads is capped at ``max_body`` bytes, as for URL upstreams.
    """
    status = 0
    receive = _limited(receive, max_body)

    async def capture(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        await send(message)

    try:
        await app(scope, receive, capture)
    except (ClientGone, BodyTooLarge):
        raise
    except Exception:
        if status:
            raise  # the response is under way: only closing the connection is left
        # A crashing component is an upstream failure: 502, never its traceback.
        _log.exception("internal upstream failed")
        raise BadGateway() from None
    if status == 0:
        raise BadGateway()
    return status
