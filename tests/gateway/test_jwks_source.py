"""RemoteJwksSource against a real JWKS server on loopback; JwksFileSource on real files."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from jwtgate.clock import FrozenClock
from jwtgate.errors import ConfigError
from jwtgate.gateway.jwks_source import JwksFileSource, RemoteJwksSource, check_jwks_url
from jwtgate.jose.keys import generate_key

KEY_A = generate_key("ES256")
KEY_B = generate_key("ES256")


def _jwks(*keys: Any) -> bytes:
    return json.dumps({"keys": [k.public_jwk() for k in keys]}).encode()


@dataclass
class _Issuer:
    """A JWKS endpoint whose answer the test controls."""

    body: bytes = field(default_factory=lambda: _jwks(KEY_A))
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    hits: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.chunked:
            resp = web.StreamResponse(status=self.status)
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for i in range(0, len(self.body), 4096):
                await resp.write(self.body[i : i + 4096])
            await resp.write_eof()
            return resp
        return web.Response(
            body=self.body,
            status=self.status,
            headers=self.headers,
            content_type="application/json",
        )


@pytest.fixture
async def issuer(unused_port: int) -> AsyncIterator[_Issuer]:
    state = _Issuer()
    app = web.Application()
    app.router.add_get("/jwks.json", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_port)
    await site.start()
    state.url = f"http://127.0.0.1:{unused_port}/jwks.json"
    try:
        yield state
    finally:
        await runner.cleanup()


async def _eventually(check: Callable[[], bool], limit: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def _source(issuer: _Issuer, clock: FrozenClock, **kw: Any) -> tuple[RemoteJwksSource, list[str]]:
    results: list[str] = []
    src = RemoteJwksSource(
        issuer.url, clock=clock, on_fetch=results.append, poll_interval=0.01, **kw
    )
    return src, results


async def test_start_fetches_the_set(issuer: _Issuer) -> None:
    src, results = _source(issuer, FrozenClock())
    await src.start()
    try:
        key = src.get(KEY_A.kid)
        assert key is not None
        assert key.kid == KEY_A.kid
        assert src.get(KEY_B.kid) is None
        assert src.version == 1
        assert results == ["updated"]
    finally:
        await src.close()


async def test_ttl_refresh_in_the_background(issuer: _Issuer) -> None:
    clock = FrozenClock()
    src, results = _source(issuer, clock, ttl=300)
    await src.start()
    try:
        first = src.get(KEY_A.kid)
        clock.advance(299)
        await asyncio.sleep(0.05)
        assert issuer.hits == 1  # not due yet
        clock.advance(2)
        await _eventually(lambda: issuer.hits == 2)
        await _eventually(lambda: len(results) == 2)
        assert results[1] == "unchanged"
        assert src.version == 1  # unchanged set keeps the verified-token cache
        assert src.get(KEY_A.kid) is first  # and the same key object
        issuer.body = _jwks(KEY_A, KEY_B)
        clock.advance(301)
        await _eventually(lambda: src.get(KEY_B.kid) is not None)
        assert src.version == 2
        assert src.get(KEY_A.kid) is first
    finally:
        await src.close()


# Every failure mode keeps the last good set (stale-if-error).
@pytest.mark.parametrize(
    ("setup", "result"),
    [
        (lambda i: setattr(i, "status", 500), "http_error"),
        (lambda i: setattr(i, "status", 404), "http_error"),
        (lambda i: setattr(i, "body", b"<html>garbage</html>"), "invalid"),
        (lambda i: setattr(i, "body", b'{"keys": "nope"}'), "invalid"),
        (lambda i: setattr(i, "body", b'{"keys": [{"kty": "EC"}]}'), "invalid"),
        (lambda i: setattr(i, "body", b"\xff\xfe"), "invalid"),
        (lambda i: setattr(i, "delay", 1.0), "timeout"),
        (lambda i: setattr(i, "body", b" " * 70_000 + _jwks(KEY_B)), "too_large"),
        (lambda i: (setattr(i, "body", b" " * 70_000), setattr(i, "chunked", True)), "too_large"),
        # A redirect is never followed, wherever it points (CWE-601 / SSRF).
        (
            lambda i: (setattr(i, "status", 302), i.headers.update(Location="http://10.0.0.1/")),
            "http_error",
        ),
    ],
    ids=[
        "500",
        "404",
        "html",
        "keys-not-a-list",
        "no-usable-key",
        "not-utf8",
        "timeout",
        "content-length-over-cap",
        "chunked-over-cap",
        "redirect-not-followed",
    ],
)
async def test_stale_if_error(
    issuer: _Issuer, setup: Callable[[_Issuer], object], result: str
) -> None:
    clock = FrozenClock()
    src, results = _source(issuer, clock, timeout=0.3, max_bytes=64 * 1024)
    await src.start()
    try:
        assert src.get(KEY_A.kid) is not None
        setup(issuer)
        assert await src.refresh() is False
        assert results[-1] == result
        assert src.failures == 1
        assert src.get(KEY_A.kid) is not None
        assert src.version == 1
    finally:
        await src.close()


async def test_single_flight(issuer: _Issuer) -> None:
    clock = FrozenClock()
    src, _ = _source(issuer, clock)
    await src.start()
    try:
        issuer.body = _jwks(KEY_A, KEY_B)
        issuer.delay = 0.05
        clock.advance(60)  # past the cooldown
        found = await asyncio.gather(*(src.refresh_for_kid(KEY_B.kid) for _ in range(100)))
        assert all(found)
        assert issuer.hits == 2  # start + exactly one refetch
    finally:
        await src.close()


async def test_unknown_kid_cooldown(issuer: _Issuer) -> None:
    clock = FrozenClock()
    src, _ = _source(issuer, clock, cooldown=30)
    await src.start()
    try:
        clock.advance(31)
        assert await src.refresh_for_kid("random-1") is False
        assert await src.refresh_for_kid("random-2") is False
        assert issuer.hits == 2  # one refetch within the cooldown
        clock.advance(29)
        assert await src.refresh_for_kid("random-3") is False
        assert issuer.hits == 2
        clock.advance(2)
        assert await src.refresh_for_kid("random-4") is False
        assert issuer.hits == 3
    finally:
        await src.close()


async def test_rotation_picked_up_by_refresh_for_kid(issuer: _Issuer) -> None:
    clock = FrozenClock()
    src, _ = _source(issuer, clock, cooldown=30, ttl=3600)
    await src.start()
    try:
        assert await src.refresh_for_kid(KEY_A.kid) is True
        assert issuer.hits == 1  # known kid: no fetch
        issuer.body = _jwks(KEY_B)  # the issuer rotated and dropped the old key
        clock.advance(30)
        assert await src.refresh_for_kid(KEY_B.kid) is True
        assert src.get(KEY_A.kid) is None
        assert src.version == 2
    finally:
        await src.close()


async def test_starts_empty_when_the_issuer_is_down(unused_port: int) -> None:
    clock = FrozenClock()
    results: list[str] = []
    src = RemoteJwksSource(
        f"http://127.0.0.1:{unused_port}/jwks.json", clock=clock, on_fetch=results.append
    )
    await src.start()  # must not raise: the gateway answers 401 unknown_kid meanwhile
    try:
        assert src.get(KEY_A.kid) is None
        assert results == ["network_error"]
        assert src.version == 0
    finally:
        await src.close()


# https only, except loopback (issue 5 "Keys from elsewhere"; RFC 8725 section 3.10).
@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/jwks.json",
        "http://10.0.0.1/jwks.json",
        "http://127.0.0.1.example.com/jwks.json",
        "http://[::ffff:10.0.0.1]/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "file:///etc/passwd",
        "/jwks.json",
        "https://user:secret@issuer.example/jwks.json",
        "https:///jwks.json",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        RemoteJwksSource(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://issuer.example/.well-known/jwks.json",
        "http://127.0.0.1:8080/jwks.json",
        "http://127.8.9.10/jwks.json",
        "http://localhost/jwks.json",
        "http://[::1]:9000/jwks.json",
    ],
)
def test_accepted_urls(url: str) -> None:
    check_jwks_url(url)


def test_file_source_reloads_on_change(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(_jwks(KEY_A))
    src = JwksFileSource(path)
    a = src.get(KEY_A.kid)
    assert a is not None
    assert src.version == 1
    assert src.reload_if_changed() is False
    path.write_bytes(_jwks(KEY_A, KEY_B) + b"\n")
    assert src.reload_if_changed() is True
    assert src.get(KEY_B.kid) is not None
    assert src.get(KEY_A.kid) is a
    assert src.version == 2
    path.write_bytes(b"{ not json")
    assert src.reload_if_changed() is False
    assert src.get(KEY_B.kid) is not None  # the last good set stays
    assert src.failures == 1


@pytest.mark.parametrize("content", [None, b"", b"[]", b'{"keys": [{"kty": "oct"}]}'])
def test_file_source_refuses_a_bad_start(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError):
        JwksFileSource(path)


async def test_recovers_in_the_background_after_a_failed_start(unused_port: int) -> None:
    clock = FrozenClock()
    results: list[str] = []
    src = RemoteJwksSource(
        f"http://127.0.0.1:{unused_port}/jwks.json",
        clock=clock,
        cooldown=30,
        on_fetch=results.append,
        poll_interval=0.01,
    )
    await src.start()
    state = _Issuer()
    app = web.Application()
    app.router.add_get("/jwks.json", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_port).start()
    try:
        await asyncio.sleep(0.05)
        assert state.hits == 0  # failed fetches are retried after the cooldown, not in a loop
        clock.advance(30)
        await _eventually(lambda: src.get(KEY_A.kid) is not None)
        assert results == ["network_error", "updated"]
        assert src.version == 1
    finally:
        await src.close()
        await runner.cleanup()
