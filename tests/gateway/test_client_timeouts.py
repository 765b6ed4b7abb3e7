"""Read timeouts of the lean upstream client: a deadline per wait, timers per connection."""

from __future__ import annotations

import asyncio

import pytest

from jwtgate.gateway.client import Connection
from jwtgate.gateway.deadlines import Deadlines

pytestmark = pytest.mark.timeout(30)

_SLACK = 0.05 + 0.1  # one timer slot late at most, plus scheduling


def _connection() -> Connection:
    return Connection(("h", 1), Deadlines(asyncio.get_running_loop()))


async def _timed_out_after(conn: Connection, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await conn.response(seconds)
    assert conn.timed_out
    return loop.time() - started


async def test_a_wait_fails_at_its_deadline() -> None:
    elapsed = await _timed_out_after(_connection(), 0.2)
    assert 0.19 <= elapsed < 0.2 + _SLACK


async def test_a_shorter_wait_after_a_longer_one_is_not_held_by_its_timer() -> None:
    conn = _connection()
    conn.watch(5.0)  # a wait that ended at once (its deadline cleared)
    conn.read_deadline = 0.0
    elapsed = await _timed_out_after(conn, 0.2)
    assert 0.19 <= elapsed < 0.2 + _SLACK


async def test_a_longer_wait_after_a_shorter_one_survives_the_earlier_timer() -> None:
    conn = _connection()
    conn.watch(0.05)
    conn.read_deadline = 0.0
    elapsed = await _timed_out_after(conn, 0.4)
    assert 0.39 <= elapsed < 0.4 + _SLACK


async def test_a_callback_wait_is_stepped_once_by_data_or_by_its_timeout() -> None:
    conn = _connection()
    steps: list[bool] = []

    def step() -> None:
        steps.append(conn.timed_out)
        conn.read_deadline = 0.0  # what a waiter does once it stops waiting

    conn.on_progress = step
    conn.watch(0.1)
    conn.data_received(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    await asyncio.sleep(0.3)  # past the deadline: the answered wait stays answered
    assert steps == [False]
    assert conn.complete
    assert conn.reuse() is False  # no transport
    conn.on_progress = step
    conn.watch(0.1)
    await asyncio.sleep(0.3)
    assert steps == [False, True]
    assert conn.on_progress is None
