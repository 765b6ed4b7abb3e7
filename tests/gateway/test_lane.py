"""The fast lane: body-less proxied requests answered by callbacks, without a task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jwtgate.gateway import lane

pytestmark = pytest.mark.timeout(60)


@contextlib.asynccontextmanager
async def _upstream(delays: dict[bytes, float] | None = None) -> AsyncIterator[str]:
    """A keep-alive HTTP/1.1 upstream answering ``ok`` (after ``delays[path]`` seconds)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, _ = head.split(b" ", 2)
                await asyncio.sleep((delays or {}).get(path, 0.0))
                body = b"" if method == b"HEAD" else b"ok"  # RFC 9110 section 9.3.2
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-path: %b\r\n\r\n" % path)
                writer.write(body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


def _route(url: str, **kw: Any) -> dict[str, Any]:
    return {"name": "r", "match": {"prefix": "/"}, "upstream": url, "auth": "public", **kw}


async def _exchange(base: str, raw: bytes, responses: int) -> list[bytes]:
    """Send ``raw`` on one connection; read ``responses`` whole responses (content-length)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    out = []
    try:
        writer.write(raw)
        for _ in range(responses):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            out.append(head + await reader.readexactly(length))
    finally:
        writer.close()
    return out


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the upstream responses the fast lane awaited by callback."""
    made: list[int] = []
    original = lane._Exchange.__init__

    def counting(self: Any, *args: Any) -> None:
        made.append(1)
        original(self, *args)

    monkeypatch.setattr(lane._Exchange, "__init__", counting)
    return made


async def test_warm_requests_take_the_lane(
    gw_config: Any, gateway: Any, http: Any, exchanges: list[int]
) -> None:
    async with _upstream() as url, gateway(gw_config([_route(url)])) as base:
        results = []
        for i in range(5):
            async with http.get(f"{base}/p{i}") as resp:
                results.append((resp.status, resp.headers["x-path"], await resp.read()))
    assert results == [(200, f"/p{i}", b"ok") for i in range(5)]
    # The first request connects (an await, so a task); the rest reuse it.
    assert len(exchanges) == 4


async def test_requests_the_lane_declines_still_work(
    gw_config: Any, gateway: Any, http: Any, exchanges: list[int]
) -> None:
    async with _upstream() as url, gateway(gw_config([_route(url)])) as base:
        async with http.get(f"{base}/warm") as resp:
            assert resp.status == 200
        async with http.head(f"{base}/h") as resp:
            head = resp.status
        async with http.post(f"{base}/b", data=b"body") as resp:
            post = resp.status
    assert (head, post) == (200, 200)
    assert exchanges == []  # HEAD and a request with a body go the ASGI way


async def test_read_timeout_on_a_pooled_connection_is_504(
    gw_config: Any, gateway: Any, http: Any, exchanges: list[int]
) -> None:
    route = _route("", timeouts={"read": 0.3})
    async with _upstream({b"/slow": 2.0}) as url:
        route["upstream"] = url
        async with gateway(gw_config([route])) as base:
            async with http.get(f"{base}/warm") as resp:
                warm = resp.status
            async with http.get(f"{base}/slow") as resp:
                slow = (resp.status, (await resp.json())["error"])
    assert warm == 200
    assert slow == (504, "upstream_timeout")
    assert len(exchanges) == 1


async def test_refusals_keep_the_connection_and_pipelined_requests_keep_order(
    gw_config: Any, gateway: Any
) -> None:
    async with _upstream() as url:
        routes = [
            {**_route(url), "name": "open", "match": {"prefix": "/open"}},
            {**_route(url), "auth": "required"},
        ]
        async with gateway(gw_config(routes)) as base:
            # A warm-up fills the pool; then three pipelined requests on one
            # connection: refused in the lane, proxied by it, refused again.
            await _exchange(base, b"GET /open/w HTTP/1.1\r\nHost: x\r\n\r\n", 1)
            raw = (
                b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /open/b HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /c HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n"
            )
            answers = await _exchange(base, raw, 3)
    statuses = [a.split(b" ", 2)[1] for a in answers]
    assert statuses == [b"401", b"200", b"401"]
    assert b"x-path: /open/b" in answers[1]
    assert b'error="invalid_token"' in answers[2]  # the third presented a token
    assert all(b"connection: close" not in a.lower() for a in answers)
