"""In-process counters served at ``internal://stats`` (the console's live panel)."""

from __future__ import annotations

import json

__all__ = ["GatewayStats"]


class GatewayStats:
    """Requests, allowed and denied (by error code) since this worker started."""

    __slots__ = ("allowed", "denied", "requests", "statuses")

    def __init__(self) -> None:
        self.requests = 0
        self.allowed = 0
        self.denied: dict[str, int] = {}
        self.statuses: dict[int, int] = {}

    def record(self, status: int, code: str | None) -> None:
        """Count one answered request."""
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if code is None:
            self.allowed += 1
        else:
            self.denied[code] = self.denied.get(code, 0) + 1

    def render(self, cache_hits: int, cache_misses: int) -> bytes:
        """The counters as a JSON document."""
        return json.dumps(
            {
                "requests": self.requests,
                "allowed": self.allowed,
                "denied": dict(sorted(self.denied.items())),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "cache": {"hits": cache_hits, "misses": cache_misses},
            },
            separators=(",", ":"),
        ).encode("utf-8")
