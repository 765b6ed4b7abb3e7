"""The lean HTTP/1.1 server over raw sockets: framing, keep-alive, pipelining, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import socket
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httptools
import pytest

from jwtgate.gateway.h1server import H1Limits, LeanServer
from jwtgate.gateway.server import bind_socket

pytestmark = pytest.mark.timeout(30)

Scope = MutableMapping[str, Any]


class _App:
    """A test application: echo, stream, fail, slow, and a disconnect recorder."""

    def __init__(self) -> None:
        self.calls = 0
        self.disconnected = asyncio.Event()
        self.release = asyncio.Event()
        self.order: list[str] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.calls += 1
        path = scope["path"]
        self.order.append(scope["query_string"].decode())
        if path == "/fail":
            raise ValueError("Bearer secret-token-value")
        if path == "/deny":
            await _reply(send, 401, b'{"error":"missing_token"}')
            return
        if path == "/slow":
            await asyncio.sleep(0.05)
        if path == "/hold":
            await self.release.wait()
        if path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(3):
                piece = b"part%d;" % i
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if path == "/inject":
            headers = [(b"x-ok", b"1\r\nset-cookie: evil=1")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"x"})
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                return
            chunks.append(message["body"])
            if not message["more_body"]:
                break
        body = b"".join(chunks)
        doc = {
            "method": scope["method"],
            "path": path,
            "query": scope["query_string"].decode(),
            "len": len(body),
            "sha": hashlib.sha256(body).hexdigest(),
            "version": scope["http_version"],
        }
        await _reply(send, 200, json.dumps(doc).encode())


async def _reply(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


@contextlib.asynccontextmanager
async def _serve(app: Any, **limits: Any) -> AsyncIterator[tuple[int, LeanServer]]:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = LeanServer(app, limits=H1Limits(**limits), drain_seconds=2.0)
    task = asyncio.create_task(server.serve([sock]))
    await asyncio.wait_for(server.wait_started(), 5)
    try:
        yield port, server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 5)
        sock.close()


class _Responses:
    """Parse a byte stream of responses (not to HEAD) with llhttp."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.items.append({"headers": {}, "body": b""})

    def on_header(self, name: bytes, value: bytes) -> None:
        self.items[-1]["headers"][name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.items[-1]["status"] = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.items[-1]["body"] += body

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._parser.feed_data(data)
        return self.items


async def _exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection; everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def _read_responses(reader: asyncio.StreamReader, count: int) -> list[dict[str, Any]]:
    parsed = _Responses()
    while len(parsed.items) < count or "status" not in parsed.items[-1]:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk, "connection closed early"
        parsed.feed(chunk)
    return parsed.items


GET = b"GET /echo?%b HTTP/1.1\r\nHost: t\r\n\r\n"


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    app = _App()
    async with _serve(app) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(3):
            writer.write(GET % str(i).encode())
            (resp,) = await _read_responses(reader, 1)
            assert resp["status"] == 200
            assert json.loads(resp["body"])["query"] == str(i)
            assert "connection" not in resp["headers"]
            assert "date" in resp["headers"]
        writer.close()
    assert app.calls == 3


async def test_pipelined_requests_answered_strictly_in_order() -> None:
    """RFC 9112 section 9.3.2: responses in the order of the requests."""
    app = _App()
    async with _serve(app) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        burst = b"".join(
            (b"GET /slow?%b HTTP/1.1\r\nHost: t\r\n\r\n" if i % 2 == 0 else GET) % b"%d" % i
            for i in range(6)
        )
        writer.write(burst)
        responses = await _read_responses(reader, 6)
        writer.close()
    assert [json.loads(r["body"])["query"] for r in responses] == [str(i) for i in range(6)]
    assert app.order == [str(i) for i in range(6)]


async def test_chunked_request_body_is_dechunked_and_streamed() -> None:
    app = _App()
    payload = b"a" * 70_000 + b"b" * 10
    chunks = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in (payload[:100], payload[100:]))
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    async with _serve(app) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head)
        await asyncio.sleep(0.01)
        writer.write(chunks + b"0\r\n\r\n")
        (resp,) = await _read_responses(reader, 1)
        writer.close()
    doc = json.loads(resp["body"])
    assert (doc["len"], doc["sha"]) == (len(payload), hashlib.sha256(payload).hexdigest())


async def test_content_length_body_larger_than_the_buffer() -> None:
    app = _App()
    payload = bytes(range(256)) * 2048  # 512 KiB, several pauses of reading
    async with _serve(app, body_buffer=4096) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(payload))
        writer.write(payload)
        (resp,) = await _read_responses(reader, 1)
        writer.close()
    assert json.loads(resp["body"])["sha"] == hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize(
    "raw",
    [
        # RFC 9112 section 6.3 / CVE-2005-2088 class: two framings, a smuggled request behind.
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n"
        b"\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +4\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x4\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ids=[
        "cl-te",
        "te-cl",
        "cl-cl",
        "te-not-last",
        "te-xchunked",
        "te-space",
        "cl-plus",
        "cl-hex",
        "obs-fold",
    ],
)
async def test_smuggling_shapes_get_400_and_close(raw: bytes) -> None:
    app = _App()
    async with _serve(app) as (port, _):
        data = await _exchange(port, raw)
    assert data.startswith(b"HTTP/1.1 400 "), data[:60]
    assert b"connection: close" in data
    assert data.count(b"HTTP/1.1 ") == 1  # nothing smuggled through
    assert app.calls == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: t\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(60))
        + b"\r\n",
        b"GET /" + b"p" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
    ],
    ids=["one-big-header", "too-many-headers", "long-target"],
)
async def test_oversized_heads_get_431(raw: bytes) -> None:
    """RFC 6585 section 5: 431 Request Header Fields Too Large."""
    app = _App()
    async with _serve(app, max_header_bytes=4096, max_headers=50) as (port, _):
        data = await _exchange(port, raw)
    assert data.startswith(b"HTTP/1.1 431 "), data[:60]
    assert b'"error":"headers_too_large"' in data
    assert app.calls == 0


async def test_endless_header_line_is_cut_off() -> None:
    """llhttp buffers an unfinished header; the raw head bytes are counted too."""
    app = _App()
    async with _serve(app, max_header_bytes=4096) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Endless: aaaa")
        await writer.drain()
        await asyncio.sleep(0.05)
        for _ in range(10):
            writer.write(b"a" * 2048)
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert data.startswith(b"HTTP/1.1 431 ")
    assert app.calls == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nBad\x01Name: v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n",
        b"GET /\xff HTTP/1.1\r\nHost: t\r\n\r\n",
    ],
    ids=[
        "garbage",
        "version",
        "trailing",
        "nul-target",
        "ctl-name",
        "nul-value",
        "non-ascii-target",
    ],
)
async def test_malformed_requests_get_400(raw: bytes) -> None:
    app = _App()
    async with _serve(app) as (port, _):
        data = await _exchange(port, raw)
    assert data.startswith(b"HTTP/1.1 400 "), data[:60]
    assert b'"error":"bad_request"' in data
    assert app.calls == 0


async def test_slowloris_head_gets_408_and_close() -> None:
    app = _App()
    async with _serve(app, header_timeout=0.2) as (port, _):
        loop = asyncio.get_running_loop()
        started = loop.time()
        data = await _exchange(port, b"GET /echo HTTP/1.1\r\nHost: t\r\nX-A: ")
        elapsed = loop.time() - started
    assert data.startswith(b"HTTP/1.1 408 ")
    assert 0.15 < elapsed < 2.0
    assert app.calls == 0


async def test_silent_connection_and_idle_keep_alive_are_closed() -> None:
    app = _App()
    async with _serve(app, header_timeout=0.2, keepalive_timeout=0.2) as (port, _):
        assert await _exchange(port, b"") == b""  # connected, never spoke
        data = await _exchange(port, GET % b"1")  # one request, then idle
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.count(b"HTTP/1.1 ") == 1


async def test_head_response_has_no_body_and_keeps_framing() -> None:
    app = _App()
    async with _serve(app) as (port, _):
        last = b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        data = await _exchange(port, b"HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n" + last)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"content-length: " in head
    assert rest.startswith(b"HTTP/1.1 200 ")  # the HEAD response carried no body bytes


async def test_expect_100_continue_sent_when_the_app_reads() -> None:
    """RFC 9110 section 10.1.1."""
    app = _App()
    async with _serve(app) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"abc")
        (resp,) = await _read_responses(reader, 1)
        writer.close()
    assert json.loads(resp["body"])["len"] == 3


async def test_expect_100_not_sent_when_the_app_refuses_without_reading() -> None:
    app = _App()
    async with _serve(app) as (port, _):
        data = await _exchange(
            port,
            b"POST /deny HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        )
    assert data.startswith(b"HTTP/1.1 401 ")
    assert b"100 Continue" not in data
    assert b"connection: close" in data  # the unread body makes the connection unusable


async def test_connection_close_is_honoured() -> None:
    app = _App()
    async with _serve(app) as (port, _):
        data = await _exchange(port, b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close\r\n" in data


async def test_client_disconnect_mid_body_reaches_the_app() -> None:
    app = _App()
    async with _serve(app) as (port, _):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await asyncio.wait_for(app.disconnected.wait(), 5)
    assert app.disconnected.is_set()


@pytest.mark.parametrize(
    ("connection", "reused"), [(b"", False), (b"Connection: keep-alive\r\n", True)]
)
async def test_http_1_0_keep_alive_only_when_asked(connection: bytes, reused: bool) -> None:
    app = _App()
    request = b"GET /echo HTTP/1.0\r\nHost: t\r\n%b\r\n" % connection
    last = b"GET /echo HTTP/1.0\r\nHost: t\r\n\r\n"
    async with _serve(app) as (port, _):
        data = await _exchange(port, request + last)
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b'"version": "1.0"' in data
    assert data.count(b"HTTP/1.1 200") == (2 if reused else 1)
    assert (b"connection: keep-alive" in data) is reused


@pytest.mark.parametrize(
    ("version", "framing"),
    [(b"1.1", b"transfer-encoding: chunked"), (b"1.0", b"connection: close")],
)
async def test_streamed_response_is_chunked_or_close_delimited(
    version: bytes, framing: bytes
) -> None:
    app = _App()
    async with _serve(app) as (port, _):
        data = await _exchange(
            port, b"GET /stream HTTP/%b\r\nHost: t\r\nConnection: close\r\n\r\n" % version
        )
    head, _, body = data.partition(b"\r\n\r\n")
    assert framing in head
    if version == b"1.1":  # RFC 9112 section 7.1: size CRLF data CRLF ... 0 CRLF CRLF
        assert body == b"6\r\npart0;\r\n6\r\npart1;\r\n6\r\npart2;\r\n0\r\n\r\n"
    else:  # HTTP/1.0 has no chunked coding: the close ends the body
        assert body == b"part0;part1;part2;"


async def test_app_failure_is_a_fixed_500_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    app = _App()
    caplog.set_level(logging.ERROR, logger="jwtgate.gateway")
    async with _serve(app) as (port, _):
        data = await _exchange(port, b"GET /fail HTTP/1.1\r\nHost: t\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 500 ")
    assert b'"error":"internal_error"' in data
    assert b"secret" not in data
    assert b"Traceback" not in data
    assert "ValueError" in caplog.text
    assert "secret-token-value" not in caplog.text


async def test_header_injection_by_the_app_becomes_500() -> None:
    """CWE-113: a CR/LF in a response header value never reaches the wire."""
    app = _App()
    async with _serve(app) as (port, _):
        data = await _exchange(port, b"GET /inject HTTP/1.1\r\nHost: t\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 500 ")
    assert b"evil" not in data


@pytest.mark.parametrize(
    "raw",
    [
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
        b"Content-Length: 3\r\n\r\nabc",
    ],
    ids=["connect", "upgrade-with-body"],
)
async def test_connect_and_upgrade_with_body_refused(raw: bytes) -> None:
    app = _App()
    async with _serve(app) as (port, _):
        data = await _exchange(port, raw)
    assert data[:12] in (b"HTTP/1.1 405", b"HTTP/1.1 400")
    assert app.calls == 0


async def test_upgrade_is_ignored_and_the_connection_closes() -> None:
    """RFC 9110 section 7.8: the server answers in HTTP/1.1; later bytes are never parsed."""
    app = _App()
    async with _serve(app) as (port, _):
        data = await _exchange(
            port,
            b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
            b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
        )
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in data
    assert app.calls == 1


async def test_connection_limit_answers_503() -> None:
    app = _App()
    async with _serve(app, max_connections=1) as (port, _):
        first = socket.create_connection(("127.0.0.1", port))
        await asyncio.sleep(0.05)
        data = await _exchange(port, GET % b"x")
        first.close()
    assert data.startswith(b"HTTP/1.1 503 ")


async def test_drain_finishes_in_flight_and_closes_idle() -> None:
    app = _App()
    async with _serve(app) as (port, server):
        busy_r, busy_w = await asyncio.open_connection("127.0.0.1", port)
        busy_w.write(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
        idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
        idle_w.write(GET % b"idle")
        await _read_responses(idle_r, 1)
        await asyncio.sleep(0.05)
        server.should_exit = True
        assert await asyncio.wait_for(idle_r.read(), 5) == b""  # idle keep-alive closed
        app.release.set()
        (resp,) = await _read_responses(busy_r, 1)
        assert resp["status"] == 200
        assert resp["headers"]["connection"] == "close"
        busy_w.close()
        idle_w.close()


async def test_pipeline_beyond_the_queue_bound_is_answered_in_part_then_closed() -> None:
    """RFC 9112 section 9.3.2: unanswered requests on a closed connection are retried."""
    app = _App()
    async with _serve(app, max_pipeline=2) as (port, _):
        data = await _exchange(port, b"".join(GET % b"%d" % i for i in range(8)))
    assert data.count(b"HTTP/1.1 ") == data.count(b"HTTP/1.1 200 OK") == 3  # no error
    assert app.order == ["0", "1", "2"]


async def test_unread_body_is_drained_then_the_connection_closes() -> None:
    """A refusal before the body was read: the rest is read and dropped, nothing after it runs."""
    app = _App()
    async with _serve(app) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /deny HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        (resp,) = await _read_responses(reader, 1)
        writer.write(b"defghij" + GET % b"after")
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert resp["status"] == 401
    assert resp["headers"]["connection"] == "close"
    assert rest == b""
    assert app.order == [""]  # the request behind the body never reached the app


async def test_client_that_stops_reading_is_cut_off_and_the_app_unblocked() -> None:
    """Write back-pressure: ``send`` waits while the socket is full; io_timeout aborts."""
    returned: list[float] = []
    done = asyncio.Event()

    async def flood(scope: Scope, receive: Any, send: Any) -> None:
        loop = asyncio.get_running_loop()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = b"x" * 65536
        for _ in range(2000):  # 128 MiB if nothing pushed back
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            returned.append(loop.time())
        done.set()

    async with _serve(flood, io_timeout=0.3) as (port, _):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /flood HTTP/1.1\r\nHost: t\r\n\r\n")
        await asyncio.wait_for(done.wait(), 10)  # the abort turns the rest into no-ops
        writer.close()
    gaps = [b - a for a, b in itertools.pairwise(returned)]
    assert max(gaps) >= 0.25  # one send waited for the full socket until the timeout
    blocked_at = gaps.index(max(gaps))
    assert blocked_at < 200  # at most ~12 MiB went out before back-pressure held the app


async def test_drain_gives_up_after_drain_seconds() -> None:
    app = _App()  # /hold never finishes unless released
    sock = bind_socket("127.0.0.1", 0)
    server = LeanServer(app, drain_seconds=0.3)
    task = asyncio.create_task(server.serve([sock]))
    await asyncio.wait_for(server.wait_started(), 5)
    reader, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
    writer.write(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    server.should_exit = True
    await asyncio.wait_for(task, 5)
    elapsed = loop.time() - started
    with contextlib.suppress(ConnectionError):
        assert await asyncio.wait_for(reader.read(), 5) == b""  # aborted, no response
    writer.close()
    sock.close()
    assert 0.25 <= elapsed < 2.0
    assert not app.release.is_set()


async def test_http_1_0_with_transfer_encoding_is_served_then_closed() -> None:
    """RFC 9112 section 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing."""
    app = _App()
    request = (
        b"POST /echo HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    async with _serve(app) as (port, _):
        data = await _exchange(port, request + GET % b"behind")
    assert data.count(b"HTTP/1.1 200 ") == 1
    assert b"connection: close" in data
    assert app.order == [""]


class _Recorder:
    """Records each request's scope (minus per-connection values) and body."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], bytes]] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message["body"]
            more = message["more_body"]
        kept = {k: v for k, v in scope.items() if k not in ("client", "server", "state")}
        self.seen.append((kept, body))
        await _reply(send, 200, b"ok")


_MIXED = [
    b"GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET /a?x=2 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"PUT /c%20d HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
    b"GET /a?x=2 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"DELETE /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
]


async def _one_by_one(port: int, requests: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for raw in requests:  # each answered before the next is sent
        writer.write(raw)
        data = await asyncio.wait_for(reader.readuntil(b"ok"), 5)
        assert data.count(b"HTTP/1.1 200 ") == 1
    writer.close()


async def test_keep_alive_requests_see_the_scope_of_a_fresh_connection() -> None:
    """Framing fields and the remembered target of one request never reach the next."""
    app = _Recorder()
    async with _serve(app) as (port, _):
        await _one_by_one(port, _MIXED)
        reused = app.seen[:]
        app.seen.clear()
        for raw in _MIXED:
            await _one_by_one(port, [raw])
    assert reused == app.seen
    assert [s["path"] for s, _ in app.seen] == ["/a", "/a", "/b", "/a", "/c d", "/a", "/a"]
    assert [s["query_string"] for s, _ in app.seen][3] == b"x=2"
    assert [s["method"] for s, _ in app.seen][4:] == ["PUT", "GET", "DELETE"]
    assert [body for _, body in app.seen][2:5] == [b"abc", b"", b"hi"]
