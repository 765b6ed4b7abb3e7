"""The bytes a client receives for representative upstream responses, pinned.

Whichever way a response comes back (the fast lane's callbacks, the task that
connects first, a body streamed as it arrives), the client must see exactly
these bytes: hop-by-hop fields and the upstream's Date dropped (RFC 9110
sections 7.6.1 and 6.6.1), the rest in order with lower-case names, and the
framing this server chose (RFC 9112 section 6).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jwtgate.gateway import lane

pytestmark = pytest.mark.timeout(60)

_DATE = b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
# path -> (the upstream's response in pieces sent 50 ms apart, close after it)
_UPSTREAM: dict[bytes, tuple[list[bytes], bool]] = {
    b"/length": (
        [
            b"HTTP/1.1 200 OK\r\nServer: nginx\r\n" + _DATE + b"Content-Type: application/json\r\n"
            b'Content-Length: 11\r\nConnection: keep-alive\r\n\r\n{"ok":true}'
        ],
        False,
    ),
    b"/chunked": (
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\nSet-Cookie: evil=1\r\n\r\n"
        ],
        False,
    ),
    b"/hop": (
        [
            b"HTTP/1.1 201 Created\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive, X-Gone\r\n"
            b"X-Gone: 1\r\nX-Kept: 2\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\n"
            b"Trailer: x\r\nTE: trailers\r\nContent-Length: 2\r\n\r\nhi"
        ],
        False,
    ),
    b"/close": (
        [
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nClose: named\r\nContent-Length: 3\r\n"
            b"X-Last: y\r\n\r\nbye"
        ],
        True,
    ),
    b"/named-length": (
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: Content-Length\r\n"
            b"cONTENT-tYPE: text/plain\r\n\r\nfour"
        ],
        False,
    ),
    b"/until-close": ([b"HTTP/1.1 200 OK\r\nX-Eof: 1\r\n\r\nto the end"], True),
    b"/nocontent": (
        [b"HTTP/1.1 204 No Content\r\n" + _DATE + b"X-A: 1\r\nContent-Length: 0\r\n\r\n"],
        False,
    ),
    b"/notmodified": (
        [b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nCache-Control: max-age=5\r\n\r\n'],
        False,
    ),
    b"/cookies": (
        [
            b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nSET-COOKIE: b=2\r\n"
            b"set-cookie: c=3; HttpOnly\r\nVary: Accept\r\nVary: Origin\r\n"
            b"Content-Length: 0\r\n\r\n"
        ],
        False,
    ),
    b"/error": (
        [b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy"],
        False,
    ),
    b"/odd-status": ([b"HTTP/1.1 299 Whatever\r\nContent-Length: 1\r\n\r\nz"], False),
    b"/streamed": (
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-S: 1\r\n\r\n01234",
            b"56789",
        ],
        False,
    ),
    b"/streamed-chunked": (
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Gone\r\n"
            b"X-Gone: 1\r\n\r\n4\r\nabcd\r\n",
            b"2\r\nef\r\n0\r\n\r\n",
        ],
        False,
    ),
}

# What the client receives (its Date line masked) for a keep-alive GET. A body
# delimited by the upstream closing (RFC 9112 section 6.3, last rule) ends
# where the upstream closed: the client gets it chunked, with its last chunk,
# and its connection stays open for the next request.
_EXPECTED: dict[bytes, bytes] = {
    b"/chunked": (
        # Trailer fields are dropped, never merged (RFC 9110 section 6.5.1).
        b"HTTP/1.1 200 OK\r\ndate: *\r\nx-a: 1\r\ncontent-length: 5\r\n\r\nabcde"
    ),
    b"/close": (b"HTTP/1.1 200 OK\r\ndate: *\r\ncontent-length: 3\r\nx-last: y\r\n\r\nbye"),
    b"/cookies": (
        b"HTTP/1.1 200 OK\r\n"
        b"date: *\r\n"
        b"set-cookie: a=1; Path=/\r\n"
        b"set-cookie: b=2\r\n"
        b"set-cookie: c=3; HttpOnly\r\n"
        b"vary: Accept\r\n"
        b"vary: Origin\r\n"
        b"content-length: 0\r\n"
        b"\r\n"
    ),
    b"/error": (
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"date: *\r\n"
        b"retry-after: 7\r\n"
        b"content-length: 4\r\n"
        b"\r\n"
        b"busy"
    ),
    b"/hop": (b"HTTP/1.1 201 Created\r\ndate: *\r\nx-kept: 2\r\ncontent-length: 2\r\n\r\nhi"),
    b"/length": (
        b"HTTP/1.1 200 OK\r\n"
        b"date: *\r\n"
        b"server: nginx\r\n"
        b"content-type: application/json\r\n"
        b"content-length: 11\r\n"
        b"\r\n"
        b'{"ok":true}'
    ),
    b"/named-length": (
        b"HTTP/1.1 200 OK\r\ndate: *\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nfour"
    ),
    b"/nocontent": (b"HTTP/1.1 204 No Content\r\ndate: *\r\nx-a: 1\r\ncontent-length: 0\r\n\r\n"),
    b"/notmodified": (
        b'HTTP/1.1 304 Not Modified\r\ndate: *\r\netag: "v1"\r\ncache-control: max-age=5\r\n\r\n'
    ),
    b"/odd-status": (b"HTTP/1.1 299 \r\ndate: *\r\ncontent-length: 1\r\n\r\nz"),
    b"/streamed": (b"HTTP/1.1 200 OK\r\ndate: *\r\ncontent-length: 10\r\nx-s: 1\r\n\r\n0123456789"),
    b"/streamed-chunked": (
        b"HTTP/1.1 200 OK\r\n"
        b"date: *\r\n"
        b"transfer-encoding: chunked\r\n"
        b"\r\n"
        b"4\r\n"
        b"abcd\r\n"
        b"2\r\n"
        b"ef\r\n"
        b"0\r\n"
        b"\r\n"
    ),
    b"/until-close": (
        b"HTTP/1.1 200 OK\r\n"
        b"date: *\r\n"
        b"x-eof: 1\r\n"
        b"transfer-encoding: chunked\r\n"
        b"\r\n"
        b"a\r\n"
        b"to the end\r\n"
        b"0\r\n"
        b"\r\n"
    ),
}

# The closing request's response, after each case's.
_TAIL = (
    b"HTTP/1.1 200 OK\r\ndate: *\r\nserver: nginx\r\ncontent-type: application/json\r\n"
    b'content-length: 11\r\nconnection: close\r\n\r\n{"ok":true}'
)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer each request with its path's scripted response, until one says close."""
    close = False
    while not close:
        head = await reader.readuntil(b"\r\n\r\n")
        pieces, close = _UPSTREAM[head.split(b" ", 2)[1]]
        for i, piece in enumerate(pieces):
            if i:
                await asyncio.sleep(0.05)
            writer.write(piece)
            await writer.drain()


@contextlib.asynccontextmanager
async def _upstream() -> AsyncIterator[str]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.closing(writer), contextlib.suppress(asyncio.IncompleteReadError, OSError):
            await _answer(reader, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def _fetch(base: str, path: bytes) -> bytes:
    """A keep-alive GET then a closing one on the same connection: everything received."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"GET %b HTTP/1.1\r\nhost: a\r\n\r\nGET /length HTTP/1.1\r\nhost: a\r\n"
            b"connection: close\r\n\r\n" % path
        )
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return re.sub(rb"date: [^\r]*\r\n", b"date: *\r\n", data)


@pytest.mark.parametrize("path", sorted(_UPSTREAM))
async def test_client_sees_the_pinned_bytes(
    path: bytes, gw_config: Any, gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    exchanges: list[object] = []
    original = lane._Exchange.wait

    def counting(self: Any, *args: Any) -> None:
        exchanges.append(self)
        original(self, *args)

    monkeypatch.setattr(lane._Exchange, "wait", counting)
    route = {"name": "r", "match": {"prefix": "/"}, "auth": "public"}
    async with _upstream() as url, gateway(gw_config([{**route, "upstream": url}])) as base:
        # Twice: the first connects upstream (a task), the second takes the
        # pooled connection (the fast lane, unless the body is streamed).
        got = [await _fetch(base, path) for _ in range(2)]
    expected = _EXPECTED[path] + _TAIL
    assert got == [expected, expected]
    assert exchanges or path == b"/until-close"  # the fast lane carried some


# Bodies whose framing says more is coming when the upstream closes: a cut,
# never a complete response (RFC 9112 section 8: an incomplete message).
_CUT = {
    b"/cut-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab",
    b"/cut-length": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    b"/cut-coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nab",
}


@pytest.mark.parametrize("path", sorted(_CUT))
async def test_a_cut_body_never_ends_as_complete(
    path: bytes, gw_config: Any, gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(_UPSTREAM, path, ([_CUT[path]], True))
    route = {"name": "r", "match": {"prefix": "/"}, "auth": "public"}
    async with _upstream() as url, gateway(gw_config([{**route, "upstream": url}])) as base:
        got = await _fetch(base, path)
    # Either a 502 (nothing sent yet) or a body cut short with the connection
    # closed; never the last chunk, and never the next response on the connection.
    assert not got.endswith(b"0\r\n\r\n")
    assert b'{"ok":true}' not in got
