"""Waiting for an upstream response: by future or by callback, with a read timeout.

A connection carries one request at a time, so it has one wait at a time:
a task awaits a future, the fast lane registers a callback. Either is woken
once the parser is done with received bytes, never from inside a parser
callback, where waking a waiter could reuse the connection mid-parse.

Read timeouts use the shared timers of :mod:`jwtgate.gateway.deadlines`, with
the connection itself as their member rather than each wait: a keep-alive
connection's waits then cost a clock read each, not a timer apiece.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from jwtgate.gateway.deadlines import Deadlines

__all__ = ["UpstreamClosed", "Waits"]


class UpstreamClosed(Exception):
    """The connection failed; ``before_response`` says whether any response byte arrived."""

    def __init__(self, before_response: bool) -> None:
        super().__init__("upstream connection closed")
        self.before_response = before_response


class Waits:
    """The wait state of one connection (a base of :class:`~jwtgate.gateway.client.Connection`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deadlines: Deadlines) -> None:
        self._loop = loop
        self.deadlines = deadlines
        # What a wait for the response head looks at (set by the connection).
        self.headers_done = False
        self.error: UpstreamClosed | None = None
        # Called once after the parser is done with received bytes (or the
        # connection failed, or the wait timed out), then cleared.
        self.on_progress: Callable[[], None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        # The current wait's deadline (loop time; 0: none), whether a wait
        # timed out, and the earliest timer armed for this connection (0: none).
        self.read_deadline = 0.0
        self.timed_out = False
        self._timer_at = 0.0

    def _notify(self) -> None:
        progress = self.on_progress
        if progress is not None:
            self.on_progress = None
            progress()
        else:
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def watch(self, seconds: float) -> None:
        """Time out the wait that starts now after ``seconds`` (:attr:`timed_out`).

        A bare deadline and the shared timers: asyncio.wait_for costs several
        times more per call, and this runs at least once per proxied request.
        A timer is armed only when none of this connection's would fire by the
        new deadline. Whoever waits clears :attr:`read_deadline` once done.
        """
        deadline = self.read_deadline = self._loop.time() + seconds
        if not 0.0 < self._timer_at <= deadline:
            self._timer_at = deadline
            self.deadlines.add(self, seconds)  # type: ignore[arg-type]

    # The parts of a future the shared timers use.
    def done(self) -> bool:
        """Never: the connection stays a timer's member, whatever it waits for."""
        return False

    def set_exception(self, exc: BaseException) -> None:
        """A timer of this connection fired: fail the wait whose deadline passed."""
        self._timer_at = 0.0
        deadline = self.read_deadline
        if not deadline:
            return
        now = self._loop.time()
        if now < deadline:  # a timer armed for an earlier wait
            self.watch(deadline - now)
            return
        self.read_deadline = 0.0
        self.timed_out = True
        progress, waiter = self.on_progress, self._waiter
        self.on_progress = self._waiter = None
        if progress is not None:
            self._loop.call_soon(progress)  # after the timers' round, as a task would run
        elif waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())

    async def response(self, seconds: float) -> None:
        """Wait for the status line and headers (each wait at most ``seconds``)."""
        # _wait inlined: one coroutine less on every proxied request.
        while not self.headers_done:
            if self.error is not None:
                raise self.error
            waiter = self._future(seconds)
            try:
                await waiter
            finally:
                self._waiter, self.read_deadline = None, 0.0

    async def _wait(self, seconds: float) -> None:
        waiter = self._future(seconds)
        try:
            await waiter
        finally:
            self._waiter, self.read_deadline = None, 0.0

    def _future(self, seconds: float) -> asyncio.Future[None]:
        """A future for the wait that starts now, failed after ``seconds``."""
        waiter = self._waiter = self._loop.create_future()
        self.watch(seconds)
        return waiter
