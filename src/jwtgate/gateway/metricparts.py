"""Pieces of the gateway's Prometheus metrics: bucket bounds, batched histograms, hit ratio.

:class:`_PendingHistogram` tallies observations per bucket and hands them
to a prometheus-client histogram child in one go (see
:mod:`jwtgate.gateway.metrics` for why the per-request series are batched).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

_VERIFY_BUCKETS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.05,
)
_REQUEST_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class _PendingHistogram:
    """Observations of one histogram child, tallied per bucket until flushed."""

    __slots__ = ("bounds", "buckets", "child_sum", "counts", "n", "total")

    def __init__(self, child: Any) -> None:
        # prometheus-client keeps the bounds (with +Inf last) and one value per
        # bucket; adding n to a bucket equals n observe() calls landing there.
        self.bounds: list[float] = list(child._upper_bounds)
        self.buckets: list[Any] = child._buckets
        self.child_sum: Any = child._sum
        self.counts = [0] * len(self.bounds)
        self.total = 0.0
        self.n = 0

    def add(self, amount: float) -> None:
        if not amount >= 0.0:  # NaN or negative: a clock hiccup, not a latency
            amount = 0.0
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.total += amount
        self.n += 1

    def flush(self) -> None:
        if not self.n:
            return
        self.child_sum.inc(self.total)
        counts = self.counts
        for i, c in enumerate(counts):
            if c:
                self.buckets[i].inc(c)
                counts[i] = 0
        self.total = 0.0
        self.n = 0


class _WithHitRatio:
    """Collects a source registry and appends the cache hit-ratio gauge."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        families = list(self._source.collect())
        hits = misses = 0.0
        for family in families:
            for sample in family.samples:
                if sample.name == "jwtgate_token_cache_hits_total":
                    hits += sample.value
                elif sample.name == "jwtgate_token_cache_misses_total":
                    misses += sample.value
        ratio = GaugeMetricFamily(
            "jwtgate_token_cache_hit_ratio",
            "Verified-token cache hits / (hits + misses) since start.",
            value=hits / (hits + misses) if hits + misses else 0.0,
        )
        return iter([*families, ratio])
