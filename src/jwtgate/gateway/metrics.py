"""Prometheus metrics of the gateway, named after pipeline stages and outcomes.

Series (all prefixed ``jwtgate_``):

==================================  =========================================
``requests_total{route,status}``    every answered request
``request_seconds{route}``          end-to-end latency histogram
``auth_total{outcome,code}``        ``allowed`` / ``denied`` / ``anonymous``...
``verify_seconds``                  token verification latency histogram
``token_cache_hits_total``          verified-token cache hits
``token_cache_misses_total``        verified-token cache misses
``token_cache_hit_ratio``           hits / (hits + misses), computed at scrape
``jwks_fetch_total{result}``        remote JWKS fetches by result
``revocations_applied_total``       revocation events applied to the view
``rate_limited_total{route}``       requests refused with 429
==================================  =========================================

Multi-worker deployments: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
directory *before* any worker imports ``prometheus_client`` (the value
storage is chosen at import time; ``jwtgate.gateway.server`` sets it and
re-selects the value class before forking).  Each worker then writes its samples to
memory-mapped files there, and :meth:`GatewayMetrics.render` - on whichever
process serves the admin listener - aggregates every worker's files.  The
server creates a fresh directory unless one is given, and calls
``prometheus_client.multiprocess.mark_process_dead(pid)`` when a worker
exits.  Counters and histograms are summed across workers; the hit ratio is
computed from the summed counters, so it is correct for the whole gateway.

Per-request cost is kept to a few dict operations: requests are counted per
(route, status, error code) in one dict shared with the worker's
:class:`~jwtgate.gateway.stats.GatewayStats` (:meth:`GatewayMetrics.follow`),
which also gives the auth outcomes and the 429s when flushed; the
other per-request series (latency, verification latency) are tallied in plain
dicts and handed to prometheus-client at most every ``flush_interval``
seconds (0.25 s by default, a ``call_later`` timer armed by the first
tally), after ``LATENCY_BATCH`` requests of a route, and before every render, so a scrape
of another worker's samples lags its requests by at most the interval.
In multiprocess mode each ``inc`` is a locked write to a memory-mapped
file that first calls ``getpid()`` (a system call) to notice a fork, so
flushing once per event-loop iteration still cost about two system calls
per request on a busy worker; per interval they cost nothing measurable.
Without a running loop every call is flushed at once.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from jwtgate.gateway.metricparts import (
    _REQUEST_BUCKETS,
    _VERIFY_BUCKETS,
    _PendingHistogram,
    _WithHitRatio,
)
from jwtgate.gateway.stats import RequestKey

__all__ = ["LATENCY_BATCH", "GatewayMetrics", "multiprocess_dir"]

LATENCY_BATCH = 4096
_FLUSH_SECONDS = 0.25


def multiprocess_dir() -> str | None:
    """The ``PROMETHEUS_MULTIPROC_DIR`` in effect, or None in single-process mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class GatewayMetrics:
    """The gateway's Prometheus series; one instance per worker process."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, flush_interval: float = _FLUSH_SECONDS
    ) -> None:
        # A private registry by default, so several gateways (tests) can coexist.
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._requests = Counter(
            "jwtgate_requests",
            "Requests answered, by route and status.",
            ["route", "status"],
            registry=r,
        )
        self._request_seconds = Histogram(
            "jwtgate_request_seconds",
            "End-to-end request latency in seconds, by route.",
            ["route"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self._auth = Counter(
            "jwtgate_auth",
            "Authentication outcomes, by error code.",
            ["outcome", "code"],
            registry=r,
        )
        self._verify = Histogram(
            "jwtgate_verify_seconds",
            "Token verification latency in seconds (cached or not).",
            buckets=_VERIFY_BUCKETS,
            registry=r,
        )
        self._hits = Counter("jwtgate_token_cache_hits", "Verified-token cache hits.", registry=r)
        self._misses = Counter(
            "jwtgate_token_cache_misses", "Verified-token cache misses.", registry=r
        )
        self._jwks = Counter(
            "jwtgate_jwks_fetch", "Remote JWKS fetches, by result.", ["result"], registry=r
        )
        self._revocations = Counter(
            "jwtgate_revocations_applied", "Revocation events applied to the view.", registry=r
        )
        self._limited = Counter(
            "jwtgate_rate_limited",
            "Requests refused by a rate limit, by route.",
            ["route"],
            registry=r,
        )
        self._request_children: dict[tuple[str, int], Counter] = {}
        self._auth_children: dict[tuple[str, str], Counter] = {}
        self._jwks_children: dict[str, Counter] = {}
        self._limited_children: dict[str, Counter] = {}
        # Requests per RequestKey since start, and how many of them
        # prometheus-client has been given.
        self.tally: dict[RequestKey, int] = {}
        self._seen: dict[RequestKey, int] = {}
        self._pending_auth: dict[tuple[str, str], int] = {}
        # Latency tallies by route, and whether a flush is due (a timer is
        # armed); :func:`jwtgate.gateway.outcome.record` observes into them
        # itself, as :meth:`latency` does.
        self.latencies: dict[str, _PendingHistogram] = {}
        self._pending_verify = _PendingHistogram(self._verify)
        self.scheduled = False
        self._flush_interval = flush_interval
        self._timer: asyncio.TimerHandle | None = None
        self._seen_hits = 0
        self._seen_misses = 0

    def follow(self, tally: dict[RequestKey, int]) -> None:
        """Count requests in ``tally`` (updated by the caller) from now on."""
        self.flush()
        self.tally = tally
        self._seen = dict(tally)

    def request(self, route: str, status: int, seconds: float, code: str | None = None) -> None:
        """Count one answered request (refused: with its error code) and observe its latency."""
        key = (route, status, code, False)
        tally = self.tally
        tally[key] = tally.get(key, 0) + 1
        self.latency(route, seconds)

    def latency(self, route: str, seconds: float) -> None:
        """Observe one request's latency (its count is in :attr:`tally`)."""
        try:
            hist = self.latencies[route]
        except KeyError:
            hist = self.latencies[route] = _PendingHistogram(self._request_seconds.labels(route))
        # _PendingHistogram.add, inlined: this runs on every request.
        if not seconds >= 0.0:  # NaN or negative: a clock hiccup, not a latency
            seconds = 0.0
        hist.counts[bisect_left(hist.bounds, seconds)] += 1
        hist.total += seconds
        hist.n += 1
        if hist.n >= LATENCY_BATCH or not self.scheduled:
            self.settle(hist)

    def settle(self, hist: _PendingHistogram) -> None:
        """After a tally into ``hist``: flush a full batch, or arm the timer if not armed."""
        # The route's own count bounds the batch (a loop iteration that never
        # ends, with no timer run): one counter per request, not two.
        if hist.n >= LATENCY_BATCH:
            self.flush()
        elif not self.scheduled:
            self._schedule()

    def auth(self, outcome: str, code: str) -> None:
        """Count one authentication outcome (``allowed``/``denied``, error code or ``ok``)."""
        key = (outcome, code)
        pending = self._pending_auth
        pending[key] = pending.get(key, 0) + 1
        if not self.scheduled:
            self._schedule()

    def verify_latency(self, seconds: float) -> None:
        """Observe one token verification."""
        self._pending_verify.add(seconds)
        if not self.scheduled:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self.scheduled = True
        self._timer = loop.call_later(self._flush_interval, self.flush)

    def flush(self) -> None:
        """Hand the tallied per-request samples to prometheus-client."""
        self.scheduled = False
        if self._timer is not None:  # an early flush (batch, render, shutdown) ends the wait
            self._timer.cancel()
            self._timer = None
        seen = self._seen
        if seen != self.tally:  # a dict comparison, in C; usually a few keys
            for key, total in self.tally.items():
                n = total - seen.get(key, 0)
                if n:
                    seen[key] = total
                    self._count(key, n)
        if self._pending_auth:
            pending_auth, self._pending_auth = self._pending_auth, {}
            for (outcome, code), n in pending_auth.items():
                achild = self._auth_children.get((outcome, code))
                if achild is None:
                    achild = self._auth_children[(outcome, code)] = self._auth.labels(outcome, code)
                achild.inc(n)
        for hist in self.latencies.values():
            hist.flush()
        self._pending_verify.flush()

    def _count(self, key: RequestKey, n: int) -> None:
        route, status, code, allowed = key
        child = self._request_children.get((route, status))
        if child is None:
            child = self._requests.labels(route, str(status))
            self._request_children[(route, status)] = child
        child.inc(n)
        if allowed:  # admitted, then perhaps refused by a later stage (rate limit)
            self._add_auth(("allowed", "ok"), n)
        if code is not None:
            self._add_auth(("denied", code), n)
        if status == 429:
            self.rate_limited(route, n)

    def _add_auth(self, key: tuple[str, str], n: int) -> None:
        self._pending_auth[key] = self._pending_auth.get(key, 0) + n

    def cache(self, hits: int, misses: int) -> None:
        """Report the verifier's absolute cache counters; the increase is added.

        A counter that went down means the verifier (and its cache) was
        rebuilt, e.g. on reload: its whole value is then new.
        """
        self.flush()
        dh = hits - self._seen_hits if hits >= self._seen_hits else hits
        dm = misses - self._seen_misses if misses >= self._seen_misses else misses
        self._seen_hits, self._seen_misses = hits, misses
        if dh:
            self._hits.inc(dh)
        if dm:
            self._misses.inc(dm)

    def jwks_fetch(self, result: str) -> None:
        """Count one remote JWKS fetch by result (``updated``, ``timeout``...)."""
        child = self._jwks_children.get(result)
        if child is None:
            child = self._jwks_children[result] = self._jwks.labels(result)
        child.inc()

    def revocations_applied(self, n: int) -> None:
        """Count ``n`` revocation events applied to the view."""
        if n > 0:
            self._revocations.inc(n)

    def rate_limited(self, route: str, n: int = 1) -> None:
        """Count ``n`` requests refused with 429 on ``route``."""
        child = self._limited_children.get(route)
        if child is None:
            child = self._limited_children[route] = self._limited.labels(route)
        child.inc(n)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (all workers in multiprocess mode)."""
        self.flush()
        source = self.registry
        if multiprocess_dir() is not None:
            from prometheus_client import multiprocess

            source = CollectorRegistry()
            multiprocess.MultiProcessCollector(source)  # type: ignore[no-untyped-call]
        return generate_latest(_WithHitRatio(source)), CONTENT_TYPE_LATEST
