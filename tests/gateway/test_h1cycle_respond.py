"""``Cycle.respond`` (the whole response without ASGI messages) writes what ``send`` writes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import MutableMapping
from typing import Any

import pytest

from jwtgate.gateway.h1cycle import Cycle
from jwtgate.gateway.h1server import H1Limits, LeanServer
from jwtgate.gateway.server import bind_socket

pytestmark = pytest.mark.timeout(30)

_CASES: dict[str, tuple[int, list[tuple[bytes, bytes]], bytes]] = {
    "/plain": (200, [(b"content-type", b"application/json"), (b"content-length", b"2")], b"{}"),
    "/nolength": (201, [(b"x-a", b"1"), (b"x-b", b"2")], b"created"),
    "/empty": (404, [], b""),
    "/nobody": (204, [(b"x-a", b"1")], b""),
    "/close": (200, [(b"connection", b"close"), (b"content-length", b"1")], b"x"),
    "/inject": (200, [(b"x-ok", b"1\r\nset-cookie: evil=1")], b"x"),
    "/short": (200, [(b"content-length", b"5")], b"abc"),
}


async def _direct(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    status, headers, body = _CASES[scope["path"]]
    cycle = send.__self__
    assert type(cycle) is Cycle
    assert cycle.respond(status, list(headers), body)
    assert not cycle.respond(status, list(headers), body)  # only once, before anything else


async def _messages(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    status, headers, body = _CASES[scope["path"]]
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _wire(app: Any, request: bytes) -> bytes:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = LeanServer(app, limits=H1Limits(), drain_seconds=2.0)
    task = asyncio.create_task(server.serve([sock]))
    await asyncio.wait_for(server.wait_started(), 5)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 5)
        sock.close()
    # The Date line may tick between the two runs.
    return re.sub(rb"date: [^\r]*\r\n", b"", data)


@pytest.mark.parametrize("path", sorted(_CASES))
@pytest.mark.parametrize(
    "shape",
    [
        b"GET %b HTTP/1.1\r\nhost: a\r\n\r\nGET %b HTTP/1.1\r\nhost: a\r\n\r\n",
        b"HEAD %b HTTP/1.1\r\nhost: a\r\n\r\n",
        b"GET %b HTTP/1.0\r\n\r\n",
        b"GET %b HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
        b"POST %b HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nabcde",
    ],
)
async def test_respond_writes_the_same_bytes_as_two_messages(path: str, shape: bytes) -> None:
    raw = path.encode()
    request = shape.replace(b"%b", raw)
    direct = await _wire(_direct, request)
    messages = await _wire(_messages, request)
    assert direct == messages
    assert direct.startswith(b"HTTP/1.")
