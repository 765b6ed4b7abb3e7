"""Stage 7b: send the request upstream and stream the answer back.

Pooled keep-alive connections per worker: the lean client of
:mod:`jwtgate.gateway.client` for ordinary requests, the aiohttp client of
:mod:`jwtgate.gateway.fallback` for what that client does not take. Bodies
stream both ways (:mod:`jwtgate.gateway.asgi` reads them); redirects are
never followed, cookies never stored and content never decoded, so the
upstream's bytes reach the client unchanged. ``internal://NAME`` upstreams
are called in-process by :mod:`jwtgate.gateway.internal`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from urllib.parse import urlsplit

from jwtgate.gateway.asgi import Receive, Send, read_limited, stream_limited
from jwtgate.gateway.client import Connection, UpstreamClosed, pairs
from jwtgate.gateway.errors import BadGateway, GatewayTimeout
from jwtgate.gateway.fallback import FallbackClient
from jwtgate.gateway.h1cycle import Cycle
from jwtgate.gateway.pool import ConnectionPool
from jwtgate.gateway.upstream_headers import request_head

__all__ = ["Upstream", "complete_response"]

_SMALL_BODY = 64 * 1024


_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "OPTIONS", "TRACE"})
# The end of a body-less request head: RFC 9110 section 8.6, a method whose
# content has a meaning says there is none.
_NO_BODY = {method: b"content-length: 0\r\n\r\n" for method in ("POST", "PUT", "PATCH")}
_Target = tuple[tuple[str, int], bytes, bytes]  # (host, port), Host header, base path
_Response = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, headers, body


def _target(base: str) -> _Target | None:
    """Where a plain-HTTP upstream lives; None for upstreams the lean client skips."""
    parts = urlsplit(base)
    if parts.scheme != "http" or parts.hostname is None:
        return None
    port = parts.port or 80
    host_header = parts.netloc.rsplit("@", 1)[-1].encode("idna")
    return (parts.hostname, port), host_header, parts.path.rstrip("/").encode("latin-1")


class Upstream:
    """The worker's pooled HTTP client for URL upstreams."""

    def __init__(self, *, limit: int = 1024, keepalive: float = 60.0) -> None:
        self._fallback = FallbackClient(limit=limit, keepalive=keepalive)
        self._started = False
        self._pool = ConnectionPool()
        self._targets: dict[str, _Target | None] = {}

    async def start(self) -> None:
        """Allow requests; the fallback client's session opens on first use."""
        self._started = True

    async def close(self) -> None:
        """Close pooled connections."""
        self._pool.close()
        await self._fallback.close()

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
        retry: bool = True,
    ) -> Awaitable[int]:
        """Proxy one request to ``base`` + ``target`` (path and query); awaits to the status.

        Raises :class:`BadGateway` / :class:`GatewayTimeout` /
        :class:`BodyTooLarge` only while nothing has been sent to the client.
        A request without a body to a plain-HTTP upstream is the lean
        client's coroutine itself (one coroutine less per request).
        """
        lean = self._target(base)
        if lean is not None and not has_body and method != "HEAD":
            return self._lean(
                lean, target, method, headers, None, send, connect_timeout, read_timeout, retry
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

    def _target(self, base: str) -> _Target | None:
        targets = self._targets
        if base in targets:
            return targets[base]
        lean = targets[base] = _target(base)
        return lean

    def send_now(
        self, base: str, target: bytes, method: str, headers: list[tuple[bytes, bytes]]
    ) -> Connection | None:
        """Write a body-less request on an idle pooled connection, if one is ready.

        None when the lean client does not take the request or no idle
        connection is ready: :meth:`forward` it instead (which may connect).
        The caller waits for the response on the returned connection and
        hands it to :meth:`relay` or :func:`complete_response`.
        """
        targets = self._targets
        where = targets[base] if base in targets else self._target(base)
        if where is None or method == "HEAD":
            return None
        key, host_header, base_path = where
        conn = self._pool.take(key)
        if conn is None or conn.transport is None:  # a pooled one has its transport
            return None
        end = _NO_BODY.get(method, b"\r\n")
        conn.transport.write(request_head(method, target, host_header, headers, end, base_path))
        return conn

    def release(self, conn: Connection) -> None:
        """Return a connection whose response is complete to the pool."""
        self._pool.release(conn)

    def answer(self, conn: Connection, cycle: Cycle) -> _Response | None:
        """Release ``conn`` and write its complete response on ``cycle``; None once written.

        Otherwise (the cycle's client must drain first) the status, headers
        and body to send the ASGI way. The upstream's fields reach the server
        as the lean client serialised them, unless the response's Connection
        field names some of them to drop too (RFC 9110 section 7.6.1).
        """
        status, body = conn.status, conn.take_body()
        if conn.connection:
            headers = conn.end_to_end()
            self._pool.release(conn)
            return None if cycle.respond(status, headers, body) else (status, headers, body)
        fields, length = conn.fields, conn.length
        self._pool.release(conn)
        if cycle.respond(status, fields, body, length, True):
            return None
        return status, pairs(fields), body

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
                data = stream_limited(receive, max_body, flags)
        if lean is not None and method != "HEAD":
            return await self._lean(
                lean, target, method, headers, data, send, connect_timeout, read_timeout
            )
        if not self._started:
            raise BadGateway()
        url = base + target.decode("latin-1")
        return await self._fallback.forward(
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
        retry: bool = True,
    ) -> int:
        key, host_header, base_path = where
        request = _request(method, base_path + target, host_header, headers, data)
        whole = data is None or isinstance(data, bytes)  # no ABC isinstance per request
        retry = retry and whole and method in _IDEMPOTENT
        pool = self._pool
        while True:
            conn = pool.take(key)
            if conn is None:
                try:
                    conn = await pool.acquire(*key, connect_timeout)
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
        return await self.relay(conn, send, read_timeout)

    async def relay(self, conn: Connection, send: Send, read_timeout: float) -> int:
        """Send the response whose head arrived on ``conn`` to the client; returns its status."""
        status = conn.status
        if conn.complete:
            # The whole (small) response is already here: one body write, not
            # a chunk plus an empty terminator (each write is a system call).
            # The lean server's request takes it directly, without ASGI messages.
            cycle = getattr(send, "__self__", None)
            if type(cycle) is Cycle:
                rest = self.answer(conn, cycle)
            else:
                rest = complete_response(conn)
                self._pool.release(conn)
            if rest is not None:
                _, headers, body = rest
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body, "more_body": False})
            return status
        headers = conn.end_to_end()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        try:
            async for chunk in conn.chunks(read_timeout):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except BaseException:
            conn.close()
            raise
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        self._pool.release(conn)
        return status


def complete_response(conn: Connection) -> _Response:
    """Status, end-to-end headers and body of a complete response on ``conn``."""
    return conn.status, conn.end_to_end(), conn.take_body()


def _request(
    method: str,
    target: bytes,
    host_header: bytes,
    headers: list[tuple[bytes, bytes]],
    data: bytes | AsyncIterator[bytes] | None,
) -> bytes:
    """The request head (and a small body) as written upstream."""
    head = request_head(method, target, host_header, headers)
    if isinstance(data, bytes):
        return head + b"content-length: %d\r\n\r\n%b" % (len(data), data)
    if data is not None:
        return head + b"transfer-encoding: chunked\r\n\r\n"
    return head + _NO_BODY.get(method, b"\r\n")
