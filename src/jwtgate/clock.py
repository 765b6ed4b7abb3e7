"""Time is passed in, so tests can move it without sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "FrozenClock", "system_clock"]

Clock = Callable[[], float]
"""A callable returning seconds since the Unix epoch as a float."""

system_clock: Clock = time.time


class FrozenClock:
    """A manually advanced clock for tests and simulations."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds
