"""Per-connection parser state of the lean server does not leak from one request to the next.

The framing fields of a head (Content-Length, Transfer-Encoding, Expect) are
reset once read and the last request target is remembered per connection:
every request on a keep-alive connection must still see the scope a fresh
connection would give it.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from jwtgate.gateway.h1server import H1Limits, LeanServer
from jwtgate.gateway.server import bind_socket

pytestmark = pytest.mark.timeout(30)

_ANSWER = b"HTTP/1.1 200 "


class _Recorder:
    """Records each request's scope (minus per-connection values) and body."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], bytes]] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message["body"]
            if not message["more_body"]:
                break
        kept = {k: v for k, v in scope.items() if k not in ("client", "server", "state")}
        self.seen.append((kept, body))
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})


_REQUESTS = [
    b"GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET /a?x=2 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"PUT /c%20d HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
    b"GET /a?x=2 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"DELETE /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
]


async def _send(port: int, requests: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for raw in requests:  # one at a time: each answered before the next is sent
        writer.write(raw)
        data = await asyncio.wait_for(reader.readuntil(b"ok"), 5)
        assert data.count(_ANSWER) == 1
    writer.close()


async def test_a_keep_alive_connection_gives_each_request_a_fresh_connection_scope() -> None:
    app = _Recorder()
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = LeanServer(app, limits=H1Limits(), drain_seconds=2.0)
    task = asyncio.create_task(server.serve([sock]))
    await asyncio.wait_for(server.wait_started(), 5)
    try:
        await _send(port, _REQUESTS)
        reused = app.seen[:]
        app.seen.clear()
        for raw in _REQUESTS:
            await _send(port, [raw])
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 5)
        sock.close()
    assert reused == app.seen
    assert [s["path"] for s, _ in app.seen] == ["/a", "/a", "/b", "/a", "/c d", "/a", "/a"]
    assert [s["query_string"] for s, _ in app.seen][3] == b"x=2"
    assert [s["method"] for s, _ in app.seen][4:] == ["PUT", "GET", "DELETE"]
    assert [body for _, body in app.seen][2:5] == [b"abc", b"", b"hi"]
