"""The floor of a Python reverse proxy: uvloop + httptools, no checks at all.

A reference row for ``benchmarks/gateway.py``, not a gateway: it forwards
each request head verbatim to one keep-alive upstream connection per client
connection and writes the upstream's response bytes back untouched.  No
routing, no token, no header rewriting, no body support, no timeouts, no
logging.  Whatever jwtgate costs above this row is jwtgate's own work, not
the interpreter's or the event loop's.

    python benchmarks/floor_proxy.py --upstream-port 8081 --port 8080 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
from typing import Any

import httptools
import uvloop


class _Upstream(asyncio.Protocol):
    """The upstream side: collects one response and hands its bytes to the client."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.chunks: list[bytes] = []
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.client.transport.write(b"".join(self.chunks))
        self.chunks.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.transport.close()


class _Client(asyncio.Protocol):
    """The client side: re-serialises each request head onto the upstream connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.parser = httptools.HttpRequestParser(self)
        self.upstream: _Upstream | None = None
        self.waiting: list[bytes] = []
        self.url = b""
        self.headers: list[bytes] = []
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(
                lambda: _Upstream(self), "127.0.0.1", self.upstream_port
            )
        except OSError:
            self.transport.close()
            return
        if self.transport.is_closing():  # the client left while we connected
            upstream.transport.close()
            return
        self.upstream = upstream
        for head in self.waiting:
            upstream.transport.write(head)
        self.waiting.clear()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_begin(self) -> None:
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append(name + b": " + value + b"\r\n")

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        head = b"".join([method, b" ", self.url, b" HTTP/1.1\r\n", *self.headers, b"\r\n"])
        if self.upstream is None:
            self.waiting.append(head)
        else:
            self.upstream.transport.write(head)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.transport.close()


def _serve(sock: socket.socket, upstream_port: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
        server = await loop.create_server(lambda: _Client(upstream_port), sock=sock)
        await stop
        server.close()

    uvloop.run(main())


def main() -> None:
    """Bind, fork ``--workers - 1`` children, serve until SIGTERM."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream-port", type=int, required=True)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", a.port))
    sock.listen(4096)
    children = []
    for _ in range(max(1, a.workers) - 1):
        pid = os.fork()
        if pid == 0:
            _serve(sock, a.upstream_port)
            os._exit(0)
        children.append(pid)
    try:
        _serve(sock, a.upstream_port)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)


if __name__ == "__main__":
    main()
