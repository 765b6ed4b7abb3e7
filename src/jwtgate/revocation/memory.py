"""The default revocation store: one process, no network."""

from __future__ import annotations

from jwtgate.clock import Clock, system_clock
from jwtgate.revocation.base import RevocationEvent, RevocationView

__all__ = ["InMemoryRevocationStore"]


class InMemoryRevocationStore:
    """Applies revocations directly to the local view.

    Correct only when the auth server and the gateway share a process (the
    demo, or a single-worker deployment); a multi-worker gateway needs the
    Redis store so that every worker's view is updated.
    """

    def __init__(self, clock: Clock = system_clock) -> None:
        self._view = RevocationView(clock)

    @property
    def view(self) -> RevocationView:
        """The in-process view."""
        return self._view

    async def start(self) -> None:
        """Nothing to load."""

    async def publish(self, event: RevocationEvent) -> None:
        """Apply the event locally."""
        self._view.apply(event)
        self._view.prune()

    async def close(self) -> None:
        """Nothing to release."""
