"""The idle pool keeps only connections that can carry another request, up to its bound."""

from __future__ import annotations

import asyncio

import pytest

from jwtgate.gateway.client import Connection
from jwtgate.gateway.deadlines import Deadlines
from jwtgate.gateway.pool import ConnectionPool

_KEY = ("h", 1)


class _Transport:
    def __init__(self) -> None:
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _finished(**state: bool) -> tuple[Connection, _Transport]:
    conn = Connection(_KEY, Deadlines(asyncio.get_running_loop()))
    transport = _Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.complete = True
    for name, value in state.items():
        setattr(conn, name, value)
    return conn, transport


async def test_a_finished_keep_alive_connection_is_taken_again_fresh() -> None:
    pool = ConnectionPool()
    conn, transport = _finished()
    conn.status, conn.fields, conn.length = 200, [b"x", b": ", b"1", b"\r\n"], b"1"
    pool.release(conn)
    assert not transport.closed
    assert pool.take(_KEY) is conn
    assert (conn.status, conn.fields, conn.length, conn.complete, conn.reused) == (
        0,
        [],
        None,
        False,
        True,
    )
    assert pool.take(_KEY) is None


@pytest.mark.parametrize("state", [{"keep_alive": False}, {"complete": False}])
async def test_a_connection_that_cannot_carry_another_request_is_closed(
    state: dict[str, bool],
) -> None:
    pool = ConnectionPool()
    conn, transport = _finished(**state)
    pool.release(conn)
    assert transport.closed
    assert pool.take(_KEY) is None


async def test_closing_transports_and_a_full_pool_close_and_are_never_taken() -> None:
    pool = ConnectionPool(max_idle=1)
    kept, _ = _finished()
    extra, extra_transport = _finished()
    pool.release(kept)
    pool.release(extra)
    assert extra_transport.closed
    closing, closing_transport = _finished()
    closing_transport.closed = True
    pool.release(closing)
    kept.transport.close()  # type: ignore[union-attr]  # closed while idle
    assert pool.take(_KEY) is None
