"""Fixtures for gateway tests: a real upstream, a keyring, and an in-process gateway.

The gateway runs through ``serve_async`` on a real loopback socket, so every
test talks HTTP to uvicorn exactly as a client would.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from jwtgate.config import JwtGateConfig
from jwtgate.gateway.server import bind_socket
from jwtgate.gateway.worker import serve_async
from jwtgate.jose import AccessTokenMinter, Keyring
from jwtgate.runtime import Component, Runtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ISSUER = "http://127.0.0.1:8080/auth"
AUDIENCE = "jwtgate"


@dataclass
class Upstream:
    """A recording echo server on loopback."""

    url: str
    name: str
    seen: list[dict[str, Any]] = field(default_factory=list)


_UPSTREAM = web.AppKey("upstream", Upstream)


async def _echo(request: web.Request) -> web.StreamResponse:
    upstream = request.app[_UPSTREAM]
    if request.path.startswith("/slow"):
        await asyncio.sleep(float(request.query.get("s", "1")))
    body = await request.read()
    record = {
        "upstream": upstream.name,
        "method": request.method,
        "path": request.raw_path,
        "headers": [[k.lower(), v] for k, v in request.headers.items()],
        "body_len": len(body),
        "body_sha": hashlib.sha256(body).hexdigest(),
    }
    upstream.seen.append(record)
    if request.path.startswith("/stream"):
        resp = web.StreamResponse(headers={"X-Up": "1", "Connection": "X-Hop", "X-Hop": "1"})
        await resp.prepare(request)
        for i in range(5):
            await resp.write(f"chunk{i};".encode())
        await resp.write_eof()
        return resp
    return web.json_response(record, headers={"X-Up": upstream.name})


@contextlib.asynccontextmanager
async def run_upstream(port: int, name: str = "up") -> AsyncIterator[Upstream]:
    """Serve the echo app on ``127.0.0.1:port``."""
    upstream = Upstream(f"http://127.0.0.1:{port}", name)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_UPSTREAM] = upstream
    app.router.add_route("*", "/{tail:.*}", _echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield upstream
    finally:
        await runner.cleanup()


@pytest.fixture
async def upstream(unused_port: int) -> AsyncIterator[Upstream]:
    """One echo upstream."""
    async with run_upstream(unused_port) as up:
        yield up


@pytest.fixture
async def second_upstream() -> AsyncIterator[Upstream]:
    """Another echo upstream (round robin)."""
    async with run_upstream(_free_port(), "second") as up:
        yield up


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory holding a fresh ES256 keyring."""
    Keyring.open(tmp_path / "data", create=True)
    return tmp_path / "data"


@pytest.fixture
def mint(data_dir: Path) -> Callable[..., str]:
    """``mint(sub, roles=..., scope=..., extra=..., ttl=...)`` -> a valid access token."""
    keyring = Keyring.open(data_dir)

    def _mint(sub: str = "alice", *, now: float | None = None, **kwargs: Any) -> str:
        clock = (lambda: now) if now is not None else time.time
        minter = AccessTokenMinter(keyring, issuer=ISSUER, audience=AUDIENCE, clock=clock)
        return minter.mint(sub, **kwargs).token

    return _mint


def make_config(data_dir: Path, routes: list[dict[str, Any]], **gateway: Any) -> JwtGateConfig:
    """A configuration with ``routes`` (listeners are bound by the fixture)."""
    gw: dict[str, Any] = {"routes": routes, "access_log": False, "admin_listener": None}
    gw.update(gateway)
    return JwtGateConfig.model_validate({"data_dir": str(data_dir), "gateway": gw})


@pytest.fixture
def gw_config(data_dir: Path) -> Callable[..., JwtGateConfig]:
    """``gw_config(routes, **gateway_settings)`` -> a configuration using ``data_dir``."""
    return lambda routes, **gw: make_config(data_dir, routes, **gw)


class _App:
    """A tiny in-process component (records the ASGI scope it was given)."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.started = False
        self.closed = False

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(dict(scope))
        body = json.dumps(
            {
                "path": scope["path"],
                "raw_path": scope["raw_path"].decode(),
                "query": scope["query_string"].decode(),
                "client": list(scope["client"]),
                "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
            }
        ).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def component() -> _App:
    """The ``internal://probe`` component."""
    return _App()


@contextlib.asynccontextmanager
async def run_gateway(
    config: JwtGateConfig,
    port: int,
    components: dict[str, Any] | None = None,
    config_path: Path | None = None,
) -> AsyncIterator[str]:
    """Run ``serve_async`` on ``127.0.0.1:port`` until the block ends; yields the base URL."""
    stop = asyncio.Event()
    ready = asyncio.Event()
    sock = bind_socket("127.0.0.1", port)

    async def factory(runtime: Runtime, names: frozenset[str]) -> dict[str, Component]:
        return {n: (components or {})[n] for n in names}

    task = asyncio.create_task(
        serve_async(config, config_path, factory, [sock], ready=ready.set, stop=stop, signals=False)
    )
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED, timeout=10)
    if task.done():
        waiter.cancel()
        task.result()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        sock.close()


@pytest.fixture
def gateway() -> Callable[..., contextlib.AbstractAsyncContextManager[str]]:
    """``async with gateway(config, components={...}) as base_url:`` on a free port."""
    return lambda config, **kw: run_gateway(config, _free_port(), **kw)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that never follows redirects or stores cookies."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


def header(record: dict[str, Any], name: str) -> list[str]:
    """Every value of header ``name`` the upstream received."""
    return [v for k, v in record["headers"] if k == name.lower()]
