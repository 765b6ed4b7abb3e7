"""The lean upstream client against hand-written HTTP/1.1 servers (stale keep-alive, framing)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
    body = b""
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        while True:
            size = int((await reader.readline()).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    return lines[0], headers, body


@contextlib.asynccontextmanager
async def _server(handler: Handler) -> AsyncIterator[tuple[str, list[bytes]]]:
    seen: list[bytes] = []
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        number = 0
        try:
            while True:
                line, _, _ = await _read_request(reader)
                seen.append(line)
                number += 1
                if not await handler(reader, writer, number):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()


def _route(url: str, **kw: Any) -> dict[str, Any]:
    return {"name": "r", "match": {"prefix": "/"}, "upstream": url, "auth": "public", **kw}


async def test_stale_pooled_connection_is_retried_for_idempotent_requests(
    gw_config: Any, gateway: Any, http: Any
) -> None:
    async def once_per_connection(_r: Any, writer: asyncio.StreamWriter, number: int) -> bool:
        if number > 1:
            return False  # close without answering: what an idle-timeout race looks like
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        return True

    async with (
        _server(once_per_connection) as (url, seen),
        gateway(gw_config([_route(url)])) as base,
    ):
        statuses = []
        for _ in range(3):
            async with http.get(f"{base}/x") as resp:
                statuses.append((resp.status, await resp.read()))
        async with http.post(f"{base}/x", data=b"a") as resp:
            post = resp.status
    assert statuses == [(200, b"ok")] * 3
    assert post == 502  # a POST is never retried (RFC 9110 section 9.2.2)
    assert len(seen) == 6  # each GET after the first: one failed try, one retry


async def test_chunked_and_large_responses_stream_intact(
    gw_config: Any, gateway: Any, http: Any
) -> None:
    blob = bytes(range(256)) * 20_000  # ~5 MB, beyond the client's high-water mark

    async def chunked(_r: Any, writer: asyncio.StreamWriter, number: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-kind: big\r\n\r\n")
        for i in range(0, len(blob), 100_000):
            part = blob[i : i + 100_000]
            writer.write(b"%x\r\n%b\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async with _server(chunked) as (url, _), gateway(gw_config([_route(url)])) as base:
        for _ in range(2):  # the second request reuses the pooled connection
            async with http.get(f"{base}/big") as resp:
                data = await resp.read()
                assert resp.headers["x-kind"] == "big"
            assert hashlib.sha256(data).digest() == hashlib.sha256(blob).digest()


async def test_request_framing_and_base_path(gw_config: Any, gateway: Any, http: Any) -> None:
    received: list[tuple[bytes, dict[bytes, bytes], bytes]] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        return True

    async def serve_and_record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                received.append(await _read_request(reader))
                await record(reader, writer, 0)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve_and_record, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/base"

    async def gen() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"def"

    try:
        async with gateway(gw_config([_route(url)])) as base:
            async with http.post(f"{base}/p?q=1", data=b"") as resp:
                empty = resp.status
            async with http.put(f"{base}/s", data=gen()) as resp:
                streamed = resp.status
            async with http.get(f"{base}/g", headers={"Expect": "100-continue"}) as resp:
                got = resp.status
    finally:
        server.close()
    assert (empty, streamed, got) == (204, 204, 204)
    (line1, h1, b1), (line2, h2, b2), (_, h3, _) = received
    assert line1 == b"POST /base/p?q=1 HTTP/1.1"
    assert (h1[b"content-length"], b1) == (b"0", b"")
    assert line2 == b"PUT /base/s HTTP/1.1"
    assert (h2[b"transfer-encoding"], b2) == (b"chunked", b"abcdef")  # RFC 9112 section 7.1
    assert b"expect" not in h3
    assert h3[b"host"].startswith(b"127.0.0.1:")


async def test_malformed_upstream_response_is_502(gw_config: Any, gateway: Any, http: Any) -> None:
    async def garbage(_r: Any, writer: asyncio.StreamWriter, number: int) -> bool:
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        return False

    async with (
        _server(garbage) as (url, _),
        gateway(gw_config([_route(url)])) as base,
        http.get(f"{base}/x") as resp,
    ):
        status, body = resp.status, await resp.json()
    assert (status, body["error"]) == (502, "bad_gateway")


async def test_head_requests(upstream: Any, gw_config: Any, gateway: Any, http: Any) -> None:
    async with (
        gateway(gw_config([_route(upstream.url)])) as base,
        http.head(f"{base}/x") as resp,
    ):
        status, length, body = (
            resp.status,
            resp.headers.get("content-length"),
            await resp.read(),
        )
    assert status == 200
    assert length is not None
    assert int(length) > 0
    assert body == b""


async def test_server_writes_with_expect_continue_and_bodyless_heads(
    upstream: Any, gw_config: Any, gateway: Any, http: Any
) -> None:
    async with gateway(gw_config([_route(upstream.url)])) as base:
        # Interim 100 Continue (RFC 9110 section 10.1.1) is never held back.
        async with http.post(f"{base}/x", data=b"z" * 5000, expect100=True) as resp:
            posted = (resp.status, (await resp.json())["body_len"])
        # A HEAD response has no body write at all: its head is still sent.
        async with http.head(f"{base}/healthz") as resp:
            head = (resp.status, await resp.read())
        # A keep-alive connection serves several coalesced responses in a row.
        statuses = []
        for _ in range(3):
            async with http.get(f"{base}/healthz") as resp:
                statuses.append((resp.status, await resp.json()))
    assert posted == (200, 5000)
    assert head == (200, b"")
    assert statuses == [(200, {"status": "ok"})] * 3


async def test_one_pooled_connection_parses_successive_responses(
    gw_config: Any, gateway: Any, http: Any
) -> None:
    # The response parser is kept across requests on a keep-alive connection:
    # every framing must leave it at a clean message boundary for the next one.
    replies = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nx-n: 1\r\n\r\none",
        b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\nx-n: 2\r\n\r\n"
        b"3\r\ntwo\r\n0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nx-n: 3\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\nx-n: 4\r\n\r\nfour",
    ]
    connections = []

    async def scripted(_r: Any, writer: asyncio.StreamWriter, number: int) -> bool:
        connections.append(id(writer))
        writer.write(replies[(number - 1) % len(replies)])
        await writer.drain()
        return True

    async with _server(scripted) as (url, _), gateway(gw_config([_route(url)])) as base:
        got = []
        for _ in range(2 * len(replies)):
            async with http.get(f"{base}/x") as resp:
                got.append((resp.status, resp.headers["x-n"], await resp.read()))
    expected = [(200, "1", b"one"), (201, "2", b"two"), (204, "3", b""), (404, "4", b"four")]
    assert got == expected * 2
    assert len(set(connections)) == 1


async def test_hop_by_hop_and_date_never_reach_the_client(
    gw_config: Any, gateway: Any, http: Any
) -> None:
    async def reply(_r: Any, writer: asyncio.StreamWriter, number: int) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Drop\r\nKeep-Alive: timeout=5\r\n"
            b"X-Drop: 1\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nX-Keep: 2\r\n"
            b"Proxy-Connection: keep-alive\r\ncontent-length: 2\r\n\r\nok"
        )
        await writer.drain()
        return True

    async with _server(reply) as (url, _), gateway(gw_config([_route(url)])) as base:
        for _ in range(2):
            async with http.get(f"{base}/x") as resp:
                assert await resp.read() == b"ok"
                names = {n.lower() for n in resp.headers}
                assert resp.headers["x-keep"] == "2"
                assert resp.headers.getall("date") != ["Thu, 01 Jan 1970 00:00:00 GMT"]
    assert not names & {"x-drop", "keep-alive", "proxy-connection"}
