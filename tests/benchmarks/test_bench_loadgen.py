"""The auth benchmark's lean HTTP/1.1 client parses real loopback responses correctly."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import pytest

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loadgen", _BENCH / "loadgen.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("loadgen", module)
    spec.loader.exec_module(module)
    return module


loadgen = _load()


@asynccontextmanager
async def _server(chunks: list[bytes]) -> AsyncIterator[int]:
    """A loopback server that answers each request with ``chunks``, written one by one."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                await reader.readexactly(5)  # the test requests carry a 5-byte body
                for chunk in chunks:
                    writer.write(chunk)
                    await writer.drain()
                    await asyncio.sleep(0.01)  # separate reads on the client side
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


_BODY = b'{"refresh_token":"abc-_1"}'


@pytest.mark.parametrize(
    "chunks",
    [
        [b"HTTP/1.1 200 OK\r\ncontent-length: 26\r\n\r\n" + _BODY],
        [b"HTTP/1.1 200 OK\r\nCont", b"ent-Length: 26\r\n\r", b"\n" + _BODY[:7], _BODY[7:]],
    ],
    ids=["one-read", "split-everywhere"],
)
async def test_responses_split_anywhere_are_reassembled(chunks: list[bytes]) -> None:
    async with _server(chunks) as port:
        conn = await loadgen.Connection.open("127.0.0.1", port)
        try:
            request = loadgen.post("127.0.0.1", port, "/token", "text/plain", b"a=b&c")
            for _ in range(3):  # keep-alive: the buffer is consumed exactly
                assert await conn.request(request) == (200, _BODY)
        finally:
            conn.close()
            await asyncio.sleep(0.05)  # let the server see EOF and close its side


async def test_a_response_without_length_fails_loudly() -> None:
    async with _server([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]) as port:
        conn = await loadgen.Connection.open("127.0.0.1", port)
        try:
            with pytest.raises(RuntimeError, match="Content-Length"):
                await conn.request(loadgen.post("127.0.0.1", port, "/t", "text/plain", b"a=b&c"))
        finally:
            conn.close()
            await asyncio.sleep(0.05)  # let the server see EOF and close its side


def test_post_declares_its_exact_length_and_type() -> None:
    raw = loadgen.post("h", 1, "/auth/token", "application/x-www-form-urlencoded", b"x=1")
    head, body = raw.split(b"\r\n\r\n")
    assert body == b"x=1"
    assert b"Content-Length: 3" in head
    assert b"Content-Type: application/x-www-form-urlencoded" in head
    assert head.startswith(b"POST /auth/token HTTP/1.1\r\nHost: h:1\r\n")
