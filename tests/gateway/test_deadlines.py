"""Shared read-timeout timers of the upstream client."""

from __future__ import annotations

import asyncio

import pytest

from jwtgate.gateway.deadlines import Deadlines


async def test_a_waiter_fails_after_its_deadline_within_one_slot() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    waiter: asyncio.Future[None] = loop.create_future()
    started = loop.time()
    deadlines.add(waiter, 0.2)
    with pytest.raises(TimeoutError):
        await waiter
    elapsed = loop.time() - started
    assert 0.19 <= elapsed < 0.2 + 0.05 + 0.1  # one slot late at most, plus scheduling


async def test_discarded_and_finished_waiters_are_left_alone() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    done: asyncio.Future[None] = loop.create_future()
    gone: asyncio.Future[None] = loop.create_future()
    late: asyncio.Future[None] = loop.create_future()
    deadlines.add(done, 0.05)
    slot = deadlines.add(gone, 0.05)
    deadlines.add(late, 0.05)
    done.set_result(None)
    deadlines.discard(gone, slot)
    await asyncio.sleep(0.2)
    assert done.result() is None
    assert not gone.done()
    assert isinstance(late.exception(), TimeoutError)


async def test_waiters_share_one_timer_per_slot() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    waiters = [loop.create_future() for _ in range(100)]
    slots = [deadlines.add(w, 30.0) for w in waiters]
    assert len(set(slots)) <= 2  # added within one slot's width of each other
    for waiter, slot in zip(waiters, slots, strict=True):
        deadlines.discard(waiter, slot)
        waiter.cancel()
