"""Interim (1xx) upstream responses: dropped, the final response answers the request.

RFC 9110 section 15.2: any number of 1xx responses may precede the final
one. Taking one as final would answer this request with it and leave the
final response to answer the connection's next request.
"""

from __future__ import annotations

import asyncio

import pytest

from jwtgate.gateway.client import Connection
from jwtgate.gateway.deadlines import Deadlines
from jwtgate.gateway.head_memo import HEADS

_EARLY = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_FINAL = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: 1\r\n\r\nok"
_NEXT = b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\nX-Next: 1\r\n\r\nnext"


class _Transport:
    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _connection() -> Connection:
    conn = Connection(("h", 1), Deadlines(asyncio.get_running_loop()))
    conn.connection_made(_Transport())  # type: ignore[arg-type]
    return conn


@pytest.mark.parametrize(
    "reads",
    [
        [_EARLY + _FINAL],
        [_CONTINUE + _EARLY + _FINAL],
        [_EARLY, _FINAL],
        [_EARLY[:20], _EARLY[20:] + _FINAL[:10], _FINAL[10:]],
    ],
)
async def test_the_final_response_answers_after_interim_ones(reads: list[bytes]) -> None:
    HEADS.clear()
    conn = _connection()
    for data in reads[:-1]:
        conn.data_received(data)
        assert not conn.headers_done
        assert not conn.complete
    conn.data_received(reads[-1])
    assert (conn.status, conn.complete, conn.take_body()) == (200, True, b"ok")
    assert conn.end_to_end() == [(b"content-length", b"2"), (b"x-final", b"1")]
    assert conn.length == b"2"
    # The connection's next request gets its own response, not a leftover.
    assert conn.reuse()
    conn.data_received(_NEXT)
    assert (conn.status, conn.take_body()) == (201, b"next")
    assert conn.end_to_end() == [(b"content-length", b"4"), (b"x-next", b"1")]


async def test_a_response_waiter_sleeps_through_an_interim_response() -> None:
    conn = _connection()
    waiting = asyncio.ensure_future(conn.response(5.0))
    await asyncio.sleep(0)
    conn.data_received(_EARLY)
    await asyncio.sleep(0)
    assert not waiting.done()
    conn.data_received(_FINAL)
    await asyncio.wait_for(waiting, 1.0)
    assert conn.status == 200
