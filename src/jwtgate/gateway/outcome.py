"""Stage 8: what one request came to, counted and written to the access log."""

from __future__ import annotations

from bisect import bisect_left
from time import perf_counter

from jwtgate.gateway.asgi import Scope
from jwtgate.gateway.metrics import LATENCY_BATCH
from jwtgate.gateway.state import Resources

__all__ = ["Outcome", "record"]


class Outcome:
    """Per-request facts for the access log and metrics."""

    __slots__ = (
        "allowed",
        "code",
        "from_proxy",
        "request_id",
        "route",
        "started",
        "status",
        "subject",
    )

    def __init__(self) -> None:
        self.started = perf_counter()
        # A token was verified and admitted: counted as an ``allowed`` auth
        # outcome with the request, not by a metrics call of its own.
        self.allowed = False
        self.from_proxy = False
        self.request_id = b"-"
        self.route = "-"
        self.status = 500
        self.code: str | None = None
        self.subject: str | None = None


def record(scope: Scope, res: Resources, out: Outcome) -> None:
    """Count the answered request and write its access-log line."""
    # One clock reading for every consumer: perf_counter is monotonic, so
    # the latency is finite and never negative.
    now = perf_counter()
    elapsed = now - out.started
    code = out.code
    # One count for the stats and the metrics (requests, auth outcomes and
    # 429s are read from it when they are rendered or flushed).
    key = (out.route, out.status, code, out.allowed)
    counts = res.stats.counts
    try:
        counts[key] += 1
    except KeyError:
        counts[key] = 1
    metrics = res.metrics
    if metrics is not None:
        try:
            hist = metrics.latencies[out.route]
        except KeyError:  # the route's first request
            metrics.latency(out.route, elapsed)
        else:
            # GatewayMetrics.latency, inlined: this runs on every request, and
            # elapsed needs no check (a perf_counter difference: finite, >= 0).
            hist.counts[bisect_left(hist.bounds, elapsed)] += 1
            hist.total += elapsed
            hist.n += 1
            if hist.n >= LATENCY_BATCH or not metrics.scheduled:
                metrics.settle(hist)
    # The logger checks whether it is enabled (the common case: it is).
    client = scope.get("client")
    res.access.log(
        out.request_id,
        out.route,
        scope["method"],
        scope["path"],
        out.status,
        elapsed * 1000.0,
        out.subject,
        code,
        client[0] if client else None,
        now,
    )
