"""Shared timers for the upstream client's read timeouts.

One event-loop timer per 50 ms slot instead of one per wait: arming and
cancelling a timer per proxied request costs more than the rest of the lean
client's work for a small response.
"""

from __future__ import annotations

import asyncio
import math

__all__ = ["Deadlines"]

_SLOT = 0.05  # seconds; a read timeout fires up to this much late


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Deadlines:
    """Read timeouts through shared timers: one per 50 ms slot, not one per wait.

    Arming and cancelling an event-loop timer costs more than the rest of the
    client's work for a small response, and a proxied request waits at least
    once. A waiter joins the slot its deadline rounds up to; when the slot's
    timer fires, every waiter still in it fails with :class:`TimeoutError`.
    A timeout therefore fires up to 50 ms after its deadline.
    """

    __slots__ = ("_loop", "_slots")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots: dict[int, set[asyncio.Future[None]]] = {}

    def add(self, waiter: asyncio.Future[None], seconds: float) -> int:
        """Fail ``waiter`` once ``seconds`` have passed; returns its slot for :meth:`discard`."""
        slot = math.ceil((self._loop.time() + seconds) / _SLOT)
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
            self._loop.call_at(slot * _SLOT, self._fire, slot)
        members.add(waiter)
        return slot

    def discard(self, waiter: asyncio.Future[None], slot: int) -> None:
        """``waiter`` finished in time."""
        members = self._slots.get(slot)
        if members is not None:
            members.discard(waiter)

    def _fire(self, slot: int) -> None:
        for waiter in self._slots.pop(slot, ()):
            _expire(waiter)
