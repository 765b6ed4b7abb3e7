"""In-process counters served at ``internal://stats`` (the console's live panel)."""

from __future__ import annotations

import json

__all__ = ["GatewayStats", "RequestKey"]

# (route, status, error code or None, whether a token was verified and admitted)
RequestKey = tuple[str, int, str | None, bool]


class GatewayStats:
    """Requests, allowed and denied (by error code) since this worker started.

    One count per :data:`RequestKey`, updated in place by
    :func:`jwtgate.gateway.outcome.record` and read by the metrics as well
    (:meth:`GatewayMetrics.follow`): a request costs one dict update for
    both, the totals are summed when rendered or flushed.
    """

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[RequestKey, int] = {}

    def record(self, route: str, status: int, code: str | None, allowed: bool = False) -> None:
        """Count one answered request."""
        key = (route, status, code, allowed)
        try:
            self.counts[key] += 1
        except KeyError:
            self.counts[key] = 1

    @property
    def requests(self) -> int:
        """Requests answered."""
        return sum(self.counts.values())

    @property
    def allowed(self) -> int:
        """Requests answered without an error code."""
        return sum(n for (_, _, code, _), n in self.counts.items() if code is None)

    @property
    def denied(self) -> dict[str, int]:
        """Refused (or dry-run) requests by error code."""
        denied: dict[str, int] = {}
        for (_, _, code, _), n in self.counts.items():
            if code is not None:
                denied[code] = denied.get(code, 0) + n
        return denied

    @property
    def statuses(self) -> dict[int, int]:
        """Requests by response status."""
        statuses: dict[int, int] = {}
        for (_, status, _, _), n in self.counts.items():
            statuses[status] = statuses.get(status, 0) + n
        return statuses

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
