"""A read that repeats the previous whole request starts it again without parsing.

Whatever the bytes and however they are cut, a connection that recognises
repeated reads must start exactly the requests (scopes, keep-alive, bodies)
and write exactly the bytes that one parsing every read does.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.gateway.h1cycle import Cycle
from jwtgate.gateway.h1proto import H1Protocol
from jwtgate.gateway.h1wire import H1Limits, ListenerState

_A = b"GET /a?q=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n"
_B = b"GET /b HTTP/1.1\r\nHost: x\r\nX-Id: 2\r\n\r\n"
_POST = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
_EMPTY = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
_EXPECT = b"GET /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"
_CLOSE = b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
_OLD = b"GET /o HTTP/1.0\r\nHost: x\r\n\r\n"
_UPGRADE = b"GET /u HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"
_BAD = b"GET /x HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n"


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.out.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("10.0.0.1", 5000), "sockname": ("10.0.0.2", 80)}.get(name, default)


class _Lane:
    """Answers body-less requests from the lane, like the gateway's fast lane."""

    def __init__(self, seen: list[Any]) -> None:
        self.seen = seen

    def take(self, cycle: Cycle) -> bool:
        if not cycle.body_done or cycle.scope["path"] == "/task":
            return False
        scope = cycle.scope
        self.seen.append(("lane", {k: v for k, v in scope.items() if k != "state"}))
        self.seen.append(("keep", cycle.keep_alive, cycle.expect))
        cycle.respond(200, [(b"content-length", b"2")], b"ok")
        cycle.conn.finished(cycle)
        return True


class _App:
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.lane = _Lane(self.seen)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append(("task", {k: v for k, v in scope.items() if k != "state"}))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append(("body", body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def _serve(chunks: list[bytes], again: bool) -> tuple[list[Any], list[bytes], int]:
    app = _App()
    state = ListenerState(app, H1Limits(max_header_bytes=512), tls=False)
    state.date_line = state.default_head = b"date: fixed\r\n"
    conn = H1Protocol(state)
    parsed = 0
    feed = conn.parser.feed_data

    class _Parser:  # counts what reaches llhttp
        def __getattr__(self, name: str) -> Any:
            return getattr(feed.__self__, name)  # type: ignore[attr-defined]

        def feed_data(self, data: bytes) -> None:
            nonlocal parsed
            parsed += 1
            feed(data)

    conn.parser = _Parser()  # type: ignore[assignment]
    if not again:
        conn.keep_again = lambda: None  # type: ignore[method-assign]
    return app.seen, await run_reads(conn, chunks), parsed


async def run_reads(conn: H1Protocol, chunks: list[bytes], turns: int = 5) -> list[bytes]:
    """Connect, send ``chunks`` one read each (``turns`` loop turns apart), disconnect.

    Returns the bytes written back.
    """
    transport = _Transport()
    conn.connection_made(transport)
    for chunk in chunks:
        if transport.closing:
            break
        conn.data_received(chunk)
        for _ in range(turns):
            await asyncio.sleep(0)
    conn.connection_lost(None)
    return transport.out


async def test_a_repeated_read_is_not_parsed_again() -> None:
    seen, out, parsed = await _serve([_A, _A, _A, _B, _A, _A], True)
    # Each kept after its second parse: _A twice, _B, _A twice again.
    assert parsed == 5
    plain_seen, plain_out, plain_parsed = await _serve([_A, _A, _A, _B, _A, _A], False)
    assert plain_parsed == 6
    assert seen == plain_seen
    assert out == plain_out
    assert [s[1]["path"] for s in seen if s[0] == "lane"] == ["/a", "/a", "/a", "/b", "/a", "/a"]


async def test_each_repeat_gets_its_own_scope_and_header_list() -> None:
    app = _App()
    scopes: list[Any] = []
    take = app.lane.take
    app.lane.take = lambda cycle: scopes.append(cycle.scope) or take(cycle)  # type: ignore[method-assign]
    conn = H1Protocol(ListenerState(app, H1Limits(), tls=False))
    conn.connection_made(_Transport())
    conn.data_received(_A)
    conn.data_received(_A)  # kept from here
    scopes[1]["headers"].append((b"x-added", b"1"))  # an application changing its scope
    scopes[1]["path"] = "/changed"
    conn.data_received(_A)
    conn.data_received(_A)
    assert len({id(s) for s in scopes}) == 4
    for scope in scopes[2:]:
        assert scope["headers"] == [(b"host", b"x"), (b"authorization", b"Bearer t")]
        assert scope["path"] == "/a"
        assert scope["query_string"] == b"q=1"
    assert scopes[2]["headers"] is not scopes[3]["headers"]


@pytest.mark.parametrize(
    "chunks",
    [
        [_POST, _POST],  # a body
        [_EMPTY, _EMPTY],  # framing headers, even for an empty body
        [_A + _A, _A + _A],  # two requests in one read
        [_A[:10], _A[10:], _A[10:]],  # a head in pieces
        [_A + _B[:5], _B[5:], _A + _B[:5]],  # a read ending inside the next head
        [_POST[:-2], _POST[-2:] + _A, _A],  # a read starting inside a body
        [_POST[:-2], _POST[-2:] + _A, _POST[-2:] + _A],  # ... then at a boundary
        [_EXPECT, _EXPECT],
        [_CLOSE, _CLOSE],
        [_OLD, _OLD],
        [_UPGRADE, _UPGRADE],
        [_A, _BAD, _A],
    ],
)
async def test_only_whole_plain_requests_are_repeated(chunks: list[bytes]) -> None:
    # The same requests and bytes, and every read parsed.
    assert await _serve(chunks, True) == await _serve(chunks, False)


async def test_a_repeat_waits_for_the_request_in_progress() -> None:
    app = _App()
    conn = H1Protocol(ListenerState(app, H1Limits(), tls=False))
    conn.connection_made(_Transport())
    task = b"GET /task HTTP/1.1\r\nHost: x\r\n\r\n"
    conn.data_received(task)  # kept, answered by a task that has not run yet
    assert conn.current is not None
    conn.data_received(task)  # queued behind it, parsed as usual
    assert len(conn.queue) == 1
    for _ in range(10):
        await asyncio.sleep(0)
    assert [s[1]["path"] for s in app.seen if s[0] == "task"] == ["/task", "/task"]
    conn.connection_lost(None)


_PIECES = st.sampled_from([_A, _B, _POST, _EMPTY, _EXPECT, _OLD, _CLOSE, b"\r\n", _BAD])


@settings(max_examples=200, deadline=None)
@given(
    requests=st.lists(_PIECES, min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    repeat=st.lists(st.integers(min_value=0, max_value=8), max_size=4),
)
def test_repeats_change_nothing_however_the_bytes_are_cut(
    requests: list[bytes], cuts: list[int], repeat: list[int]
) -> None:
    stream = b"".join(requests)
    marks = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(marks) if b > a]
    for index in repeat:  # some reads sent twice in a row
        if index < len(chunks):
            chunks.insert(index, chunks[index])

    async def both() -> None:
        assert (await _serve(chunks, True))[:2] == (await _serve(chunks, False))[:2]

    asyncio.run(both())


async def test_a_head_left_incomplete_by_its_read_gets_the_header_deadline() -> None:
    app = _App()
    limits = H1Limits(header_timeout=7.0, keepalive_timeout=2.0)
    conn = H1Protocol(ListenerState(app, limits, tls=False))
    conn.connection_made(_Transport())
    loop = asyncio.get_running_loop()
    conn.data_received(_A)  # whole, answered by the lane: the connection is idle again
    assert 0 < conn.deadline - loop.time() <= 2.0
    conn.data_received(_B[:12])  # a head begins and stops
    assert 6.0 < conn.deadline - loop.time() <= 7.0
    before = conn.deadline
    conn.data_received(_B[12:20])  # more of it: still the same deadline
    assert conn.deadline == before
    conn.data_received(_B[20:])
    assert 0 < conn.deadline - loop.time() <= 2.0
    conn.connection_lost(None)
