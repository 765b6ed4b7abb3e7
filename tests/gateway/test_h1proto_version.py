"""The request's HTTP version: read from the request line, or asked of llhttp.

``on_headers_complete`` reads the version of a head whose request line is
the first line of the read it began in, at a boundary between requests;
every other head asks llhttp. Fed one byte a read, no head takes the first
way, so the two must give the same scopes and the same response bytes
however the bytes are cut.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.gateway.h1cycle import Cycle
from jwtgate.gateway.h1proto import H1Protocol
from jwtgate.gateway.h1wire import H1Limits, ListenerState

from .test_h1conn_again import run_reads

_NEW = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
_OLD = b"GET /o HTTP/1.0\r\nHost: x\r\nX-Note: HTTP/1.1\r\n\r\n"  # 1.1 on a later line
_KEEP = b"GET /k HTTP/1.0\r\nConnection: keep-alive\r\nHost: x\r\n\r\n"
_BODY = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
_OLD_BODY = b"POST /q HTTP/1.0\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi"
_BARE_LF = b"GET /l HTTP/1.0\nHost: x HTTP/1.1\r\n\r\n"  # refused: LF without CR
_SPACE = b"GET /s HTTP/1.1 \r\nHost: x\r\n\r\n"  # refused: not a request line
_TWO_SP = b"GET  /t HTTP/1.1\r\nHost: x\r\n\r\n"  # a line longer than its parts
_ABSOLUTE = b"OPTIONS http://x/y?z HTTP/1.1\r\nHost: x\r\n\r\n"


class _App:
    """Answers every request from the lane with its version; bodies from a task."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.lane = self

    def take(self, cycle: Cycle) -> bool:
        scope = cycle.scope
        if scope["method"] not in ("GET", "OPTIONS"):
            return False
        self.seen.append((scope["path"], scope["http_version"], cycle.keep_alive))
        cycle.respond(200, [], scope["http_version"].encode())
        cycle.conn.finished(cycle)
        return True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append((scope["path"], scope["http_version"], "task"))
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["http_version"].encode()})


async def _serve(chunks: list[bytes]) -> tuple[list[Any], list[bytes], int]:
    app = _App()
    state = ListenerState(app, H1Limits(max_pipeline=64), tls=False)  # never refused
    state.date_line = state.default_head = b"date: fixed\r\n"
    conn = H1Protocol(state)
    asked = 0
    parser = conn.parser

    class _Parser:  # counts the versions asked of llhttp
        def __getattr__(self, name: str) -> Any:
            return getattr(parser, name)

        def get_http_version(self) -> str:
            nonlocal asked
            asked += 1
            return parser.get_http_version()

    conn.parser = _Parser()  # type: ignore[assignment]
    conn.keep_again = lambda: None  # type: ignore[method-assign]  # parse every read
    out = await run_reads(conn, chunks, turns=100)  # queued tasks all run
    return app.seen, out, asked


def _bytewise(chunks: list[bytes]) -> list[bytes]:
    stream = b"".join(chunks)
    return [stream[i : i + 1] for i in range(len(stream))]


async def test_a_whole_head_in_a_read_needs_no_question() -> None:
    chunks = [_NEW, _NEW + _NEW, b"\r\n" + _NEW, _OLD]
    seen, out, asked = await _serve(chunks)
    assert [s[1] for s in seen] == ["1.1", "1.1", "1.1", "1.1", "1.0"]
    # The second head of a read, HTTP/1.0 and a read starting with CR LF ask.
    assert asked == 3
    assert await _serve(_bytewise(chunks)) == (seen, out, 5)


async def test_a_head_after_a_body_in_the_same_read_asks() -> None:
    # The read began with another head (of the same method and target length).
    chunks = [_BODY[:-1], _BODY[-1:] + _OLD_BODY, _NEW]
    seen, out, asked = await _serve(chunks)
    assert [s[1] for s in seen] == ["1.1", "1.0", "1.1"]
    assert asked == 1
    assert (await _serve(_bytewise(chunks)))[:2] == (seen, out)


async def test_a_refused_request_line_is_refused_either_way() -> None:
    for bad in (_BARE_LF, _SPACE):
        seen, out, _ = await _serve([_NEW, bad, _NEW])
        assert [s[0] for s in seen] == ["/a"]
        assert out[-1].startswith(b"HTTP/1.1 400 ")
        assert (await _serve(_bytewise([_NEW, bad, _NEW])))[:2] == (seen, out)


_PIECES = st.sampled_from(
    [_NEW, _OLD, _KEEP, _BODY, _OLD_BODY, b"\r\n", _BARE_LF, _SPACE, _TWO_SP, _ABSOLUTE]
)


@settings(max_examples=200, deadline=None)
@given(
    requests=st.lists(_PIECES, min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_versions_are_what_llhttp_gives_however_the_bytes_are_cut(
    requests: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(requests)
    marks = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(marks) if b > a]

    async def both() -> None:
        assert (await _serve(chunks))[:2] == (await _serve(_bytewise(chunks)))[:2]

    asyncio.run(both())
