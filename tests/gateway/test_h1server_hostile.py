"""The lean server against hostile bytes, and its ASGI scope against uvicorn's."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtgate.gateway.h1server import H1Limits, LeanServer
from jwtgate.gateway.server import bind_socket
from jwtgate.gateway.uvicorn_server import UvicornServer, uvicorn_config

pytestmark = pytest.mark.timeout(60)

_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")


class _Fixed:
    """Answers every request with a fixed body (never reflects the input)."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(dict(scope))
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def lean_port() -> Iterator[int]:
    """A lean server in its own thread and loop, for synchronous socket tests."""
    sock = bind_socket("127.0.0.1", 0)
    loop = asyncio.new_event_loop()
    limits = H1Limits(max_header_bytes=4096, header_timeout=1.0, io_timeout=1.0)
    server = LeanServer(_Fixed(), limits=limits, drain_seconds=0.5)
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve([sock]),))
    thread.start()
    asyncio.run_coroutine_threadsafe(server.wait_started(), loop).result(5)
    try:
        yield sock.getsockname()[1]
    finally:
        loop.call_soon_threadsafe(setattr, server, "should_exit", True)
        thread.join(5)
        loop.close()
        sock.close()


def _send(port: int, data: bytes) -> bytes:
    """Send ``data``, half-close, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with contextlib.suppress(OSError):  # the server may close before reading it all
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        out = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                out += chunk
        return out


def _assert_refused_or_fine(out: bytes) -> list[int]:
    statuses = [int(code) for code in _STATUS.findall(out)]
    assert all(status < 500 for status in statuses), out[:200]
    assert b"Traceback" not in out
    if out:
        assert out.startswith(b"HTTP/1.1 ")
    return statuses


# Each vector names its source: RFC section, CVE, or attack write-up.
HOSTILE = {
    "rfc9112-6.3-cl-te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
    "portswigger-te-te-obfuscated": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: x\r\n\r\n0\r\n\r\n",
    "portswigger-te-vertical-tab": b"POST / HTTP/1.1\r\nHost: a\r\n"
    b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n",
    "cve-2013-2028-chunk-size-overflow": b"POST / HTTP/1.1\r\nHost: a\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
    "rfc9112-7.1-negative-chunk": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    b"\r\n-1\r\n",
    "rfc9112-6.3-cl-overflow": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
    b"99999999999999999999999\r\n\r\n",
    "rfc9112-2.2-leading-whitespace-header": b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
    "rfc9112-2.2-bare-cr": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
    "rfc9112-5-space-in-name": b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n",
    "http-0.9-request": b"GET /\r\n",
    "tls-client-hello-on-plain-port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
    + b"\x00" * 32,
    "h2-prior-knowledge-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "unknown-method": b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n",
    "nul-flood": b"\x00" * 4096,
    "cve-2019-9516-empty-header-flood": b"GET / HTTP/1.1\r\n" + b":\r\n" * 200 + b"\r\n",
    "rfc6585-5-header-flood": b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n",
    "rfc9110-9.3.6-connect": b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    "rfc9112-3.2-absolute-form-garbage": b"GET http://[::1 HTTP/1.1\r\nHost: a\r\n\r\n",
}


INCOMPLETE = {HOSTILE["http-0.9-request"]}  # llhttp waits for a version that never comes


@pytest.mark.parametrize("raw", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_request_is_refused_with_a_4xx_and_close(lean_port: int, raw: bytes) -> None:
    out = _send(lean_port, raw)
    statuses = _assert_refused_or_fine(out)
    # A 4xx and close, or (for a head that never completes) a clean close.
    assert all(400 <= s < 500 for s in statuses)  # never reaches the application as a 200
    assert not statuses or b"connection: close" in out
    assert statuses or raw in INCOMPLETE


_FRAGMENTS = st.sampled_from(
    [
        b"GET ",
        b"POST ",
        b"/",
        b"/a%2f",
        b"?q=1",
        b" HTTP/1.1\r\n",
        b" HTTP/1.0\r\n",
        b"Host: a\r\n",
        b"Content-Length: 3\r\n",
        b"Content-Length: -1\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Connection: close\r\n",
        b"Connection: keep-alive\r\n",
        b"Expect: 100-continue\r\n",
        b"Upgrade: websocket\r\nConnection: upgrade\r\n",
        b"\r\n",
        b"3\r\nabc\r\n",
        b"0\r\n\r\n",
        b"abc",
        b"\x00",
        b"\xff",
        b" ",
        b":",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FRAGMENTS, max_size=14).map(b"".join) | st.binary(max_size=300))
def test_arbitrary_bytes_never_cause_a_5xx(lean_port: int, raw: bytes) -> None:
    """Any mix of request fragments or random bytes: 2xx/4xx responses or a clean close."""
    _assert_refused_or_fine(_send(lean_port, raw))
    # ...and the server still answers a well-formed request afterwards.
    ok = _send(lean_port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 ")


# ---------------------------------------------------------------- scope
REQUESTS = [
    b"GET /a%2Fb/caf%C3%A9?x=1&y=%20 HTTP/1.1\r\nHost: h\r\nX-Mixed-Case: V\r\n\r\n",
    b"GET /plain HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    b"POST /post?z HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nCookie: a=b\r\n\r\nhi",
    b"GET http://other.example/abs/p?q=2 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /frag?x#f HTTP/1.1\r\nHost: h\r\n\r\n",
    b"DELETE /d HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
]


@contextlib.asynccontextmanager
async def _running(kind: str, app: _Fixed) -> AsyncIterator[int]:
    sock = bind_socket("127.0.0.1", 0)
    server: Any
    if kind == "lean":
        server = LeanServer(app, drain_seconds=0.5)
    else:
        server = UvicornServer(uvicorn_config(app, 0.5))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 5)
        sock.close()


async def _scopes(kind: str) -> list[dict[str, Any]]:
    app = _Fixed()
    async with _running(kind, app) as port:
        for raw in REQUESTS:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            assert (await asyncio.wait_for(reader.readuntil(b"ok"), 5)).startswith(b"HTTP/1.1 200")
            writer.close()
    for scope in app.scopes:
        scope["client"] = (scope["client"][0], 0)  # ephemeral ports differ
        scope["server"] = (scope["server"][0], 0)
    return app.scopes


async def test_scope_is_exactly_what_uvicorn_gives_the_app() -> None:
    """Differential: the same requests through uvicorn and the lean server."""
    lean = await _scopes("lean")
    reference = await _scopes("uvicorn")
    assert len(lean) == len(reference) == len(REQUESTS)
    for mine, theirs in zip(lean, reference, strict=True):
        assert mine == theirs
