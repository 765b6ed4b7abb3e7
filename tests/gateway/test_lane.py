"""The fast lane: body-less proxied requests answered by callbacks, without a task."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from jwtgate.gateway import lane

pytestmark = pytest.mark.timeout(60)


@contextlib.asynccontextmanager
async def _upstream(
    delays: dict[bytes, float] | None = None, heads: list[bytes] | None = None
) -> AsyncIterator[str]:
    """A keep-alive HTTP/1.1 upstream answering ``ok`` (after ``delays[path]`` seconds).

    Every request head it reads is appended to ``heads``, if given.
    """

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if heads is not None:
                    heads.append(head)
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
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The exchanges (outcomes) whose upstream response the fast lane awaited by callback."""
    made: list[Any] = []
    original = lane._Exchange.wait

    def counting(self: Any, *args: Any) -> None:
        made.append(self)
        original(self, *args)

    monkeypatch.setattr(lane._Exchange, "wait", counting)
    return made


async def test_warm_requests_take_the_lane(
    gw_config: Any, gateway: Any, http: Any, exchanges: list[Any]
) -> None:
    async with _upstream() as url, gateway(gw_config([_route(url)])) as base:
        results = []
        for i in range(5):
            async with http.get(f"{base}/p{i}") as resp:
                results.append((resp.status, resp.headers["x-path"], await resp.read()))
    assert results == [(200, f"/p{i}", b"ok") for i in range(5)]
    # The first request connects (an await, so a task); the rest reuse it.
    assert len(exchanges) == 4


async def test_the_exchange_is_the_outcome_it_records(
    gw_config: Any, gateway: Any, http: Any, exchanges: list[Any]
) -> None:
    async with _upstream() as url, gateway(gw_config([_route(url)])) as base:
        for i in range(3):
            async with http.get(f"{base}/p{i}") as resp:
                assert resp.status == 200
    # The exchange's own fields never stand in for the outcome's.
    assert [(out.route, out.status) for out in exchanges] == [("r", 200), ("r", 200)]


async def test_requests_the_lane_declines_still_work(
    gw_config: Any, gateway: Any, http: Any, exchanges: list[Any]
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
    gw_config: Any, gateway: Any, http: Any, exchanges: list[Any]
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


# ------------------------------------------- the same upstream bytes as ASGI


async def _send(base: str, raw: bytes) -> bytes:
    """One request on a fresh connection; the status line of its answer."""
    return (await _exchange(base, raw, 1))[0].split(b"\r\n", 1)[0]


def _requests(token: str) -> list[bytes]:
    auth = b"Authorization: Bearer " + token.encode("ascii") + b"\r\n"
    return [
        b"GET /api/items?a=1&b=2 HTTP/1.1\r\nHost: gw.test\r\n" + auth + b"\r\n",
        b"GET /api/x HTTP/1.1\r\nHost: gw.test:8080\r\n" + auth + b"Accept: */*\r\n"
        b"X-User-Id: forged\r\nX-Auth-Role: admin\r\nX_User_Id: forged\r\n"
        b"X-Forwarded-For: 1.2.3.4\r\nX-Real-IP: 1.2.3.4\r\nX-Request-Id: mine\r\n\r\n",
        b"DELETE /api/y HTTP/1.1\r\nHost: gw.test\r\n" + auth + b"Connection: keep-alive, x-hop\r\n"
        b"X-Hop: 1\r\nTE: trailers\r\nCookie: a=1\r\nCookie: b=2\r\nExpect: 100-continue\r\n\r\n",
        b"GET /strip/deep/path%20x?q HTTP/1.1\r\nHost: gw.test\r\n" + auth + b"\r\n",
        b"GET /open/z?access_token=" + token.encode("ascii") + b"&k=v HTTP/1.1\r\n"
        b"Host: gw.test\r\nOrigin: http://o.test\r\nX-CSRF-Token: t\r\n\r\n",
        b"GET /open/anonymous HTTP/1.1\r\nHost: gw.test\r\nUser-Agent: t\r\n\r\n",
        b"GET /public HTTP/1.0\r\nHost: gw.test\r\nAuthorization: Basic eDp5\r\n\r\n",
    ]


def _routes(url: str) -> list[dict[str, Any]]:
    forward = {"sub": "X-User-Id", "roles": "X-User-Roles", "scope": "X-User-Scopes"}
    return [
        {"name": "strip", "match": {"prefix": "/strip"}, "upstream": url, "strip_prefix": True},
        {"name": "public", "match": {"path": "/public"}, "upstream": url, "auth": "public"},
        {
            "name": "open",
            "match": {"prefix": "/open"},
            "upstream": url,
            "auth": "optional",
            "forward": forward,
            "token_sources": {"query_param": "access_token"},
        },
        {
            "name": "api",
            "match": {"prefix": "/"},
            "upstream": url,
            "forward": forward,
            "rate_limit": {"key": "subject", "rate": 1000, "burst": 1000},
        },
    ]


async def test_lane_and_asgi_path_write_the_same_upstream_heads(
    gw_config: Any,
    gateway: Any,
    mint: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = mint("alice", roles=["user", "ops"], scope="read write")
    requests = _requests(token)
    lane_used: list[int] = []
    exchange = lane._Exchange.wait

    def counting(self: Any, *args: Any) -> None:
        lane_used.append(1)
        exchange(self, *args)

    heads: list[bytes] = []
    async with _upstream(heads=heads) as url:
        config = gw_config(_routes(url), rate_limit_backend="memory")
        async with gateway(config) as base:
            with monkeypatch.context() as patch:
                # Connections made now never offer a request to the lane.
                patch.setattr(lane.Lane, "take", lambda _self, _cycle: False)
                asgi = [await _send(base, raw) for raw in requests]
            asgi_heads = heads[:]
            del heads[:]
            monkeypatch.setattr(lane._Exchange, "wait", counting)
            laned = [await _send(base, raw) for raw in requests]  # the pool is warm now
    assert asgi == laned
    assert all(b" 200 " in status for status in asgi)
    assert len(lane_used) == len(requests)

    def without_id(head: bytes) -> bytes:
        return re.sub(rb"x-request-id: [^\r]*", b"x-request-id: -", head)

    assert [without_id(h) for h in heads] == [without_id(h) for h in asgi_heads]


# Requests repeated byte for byte on one connection: the lean server starts
# them from its kept parse and the lane reuses what it kept; neither may
# change a byte either side sees but the request id.


@pytest.fixture
def repeats(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each request offered to the lane was started from a repeated read."""
    seen: list[bool] = []
    take = lane.Lane.take
    record = lambda self, cycle: seen.append(cycle.repeated) or take(self, cycle)  # noqa: E731
    monkeypatch.setattr(lane.Lane, "take", record)
    return seen


_ID = re.compile(rb"x-request-id: ([^\r]*)")


async def _repeat(base: str, raw: bytes, times: int) -> list[bytes]:
    """Send ``raw`` ``times`` times on one connection, one after the other's answer."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answers = []
    try:
        for _ in range(times):
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: (\d+)", head)
            body = await reader.readexactly(int(length.group(1))) if length else b""
            answers.append(re.sub(rb"(?i)date: [^\r]*", b"date: -", head) + body)
            if b"connection: close" in head.lower():
                break
    finally:
        writer.close()
    return answers


async def test_repeated_requests_reach_the_upstream_as_the_first_did(
    gw_config: Any, gateway: Any, mint: Any, repeats: list[bool]
) -> None:
    token = mint("alice", roles=["user", "ops"], scope="read write")
    heads: list[bytes] = []
    routes = _routes("")
    async with _upstream(heads=heads) as url:
        for route in routes:
            route["upstream"] = url
        async with gateway(gw_config(routes, rate_limit_backend="memory")) as base:
            await _exchange(base, _requests(token)[0], 1)  # a warm pool
            for raw in _requests(token):
                del heads[:]
                answers = await _repeat(base, raw, 5)
                assert len(set(answers)) == 1, raw  # the same answer every time
                ids = [_ID.search(h).group(1) for h in heads]  # type: ignore[union-attr]
                assert len(set(ids)) == len(heads) or ids == [b"mine"] * len(heads)
                assert len({_ID.sub(b"", h) for h in heads}) == 1, raw
    assert sum(repeats) >= 15  # most went the repeated way
