"""Gateway metrics: the expected series appear after calls, single and multi-process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from jwtgate.gateway.accesslog import AccessLogger
from jwtgate.gateway.metrics import _VERIFY_BUCKETS, LATENCY_BATCH, GatewayMetrics
from jwtgate.gateway.outcome import Outcome, record
from jwtgate.gateway.state import Resources
from jwtgate.gateway.stats import GatewayStats


def _families(body: bytes) -> dict[str, list[Sample]]:
    return {f.name: list(f.samples) for f in text_string_to_metric_families(body.decode())}


def _samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_render_contains_every_series_after_calls() -> None:
    m = GatewayMetrics()
    m.request("echo", 200, 0.002)
    m.request("echo", 200, 0.004)
    m.request("admin", 403, 0.001)
    m.auth("allowed", "ok")
    m.auth("denied", "token_expired")
    m.verify_latency(0.00003)
    m.cache(hits=3, misses=1)
    m.jwks_fetch("updated")
    m.jwks_fetch("timeout")
    m.revocations_applied(2)
    m.rate_limited("echo")
    s = _samples(m)
    assert s[("jwtgate_requests_total", (("route", "echo"), ("status", "200")))] == 2
    assert s[("jwtgate_requests_total", (("route", "admin"), ("status", "403")))] == 1
    assert s[("jwtgate_request_seconds_count", (("route", "echo"),))] == 2
    assert s[("jwtgate_auth_total", (("code", "token_expired"), ("outcome", "denied")))] == 1
    assert s[("jwtgate_auth_total", (("code", "ok"), ("outcome", "allowed")))] == 1
    assert s[("jwtgate_verify_seconds_count", ())] == 1
    assert s[("jwtgate_verify_seconds_bucket", (("le", "5e-05"),))] == 1
    assert s[("jwtgate_token_cache_hits_total", ())] == 3
    assert s[("jwtgate_token_cache_misses_total", ())] == 1
    assert s[("jwtgate_token_cache_hit_ratio", ())] == pytest.approx(0.75)
    assert s[("jwtgate_jwks_fetch_total", (("result", "updated"),))] == 1
    assert s[("jwtgate_jwks_fetch_total", (("result", "timeout"),))] == 1
    assert s[("jwtgate_revocations_applied_total", ())] == 2
    assert s[("jwtgate_rate_limited_total", (("route", "echo"),))] == 1


def test_cache_counters_are_absolute_and_survive_a_rebuilt_verifier() -> None:
    m = GatewayMetrics()
    m.cache(10, 5)
    m.cache(12, 5)  # +2 hits
    m.cache(1, 1)  # verifier rebuilt (reload): its counters restarted
    s = _samples(m)
    assert s[("jwtgate_token_cache_hits_total", ())] == 13
    assert s[("jwtgate_token_cache_misses_total", ())] == 6


def test_hit_ratio_is_zero_before_any_lookup() -> None:
    assert _samples(GatewayMetrics())[("jwtgate_token_cache_hit_ratio", ())] == 0.0


def test_instances_do_not_share_state() -> None:
    a, b = GatewayMetrics(), GatewayMetrics()
    a.rate_limited("r")
    assert ("jwtgate_rate_limited_total", (("route", "r"),)) not in _samples(b)


_WORKER = """
import sys
from jwtgate.gateway.metrics import GatewayMetrics
m = GatewayMetrics()
m.request("echo", 200, 0.01)
m.cache(int(sys.argv[1]), 1)  # the worker's periodic tick; it also flushes the batch
"""
_SCRAPE = """
import sys
from jwtgate.gateway.metrics import GatewayMetrics
sys.stdout.write(GatewayMetrics().render()[0].decode())
"""


def test_multiprocess_mode_aggregates_workers(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for hits in ("3", "5"):
        subprocess.run([sys.executable, "-c", _WORKER, hits], env=env, check=True, timeout=60)
    out = subprocess.run(
        [sys.executable, "-c", _SCRAPE], env=env, check=True, capture_output=True, timeout=60
    ).stdout.decode()
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(out)
        for s in f.samples
    }
    assert values[("jwtgate_requests_total", (("route", "echo"), ("status", "200")))] == 2
    assert values[("jwtgate_token_cache_hits_total", ())] == 8
    assert values[("jwtgate_token_cache_hit_ratio", ())] == pytest.approx(0.8)


@given(
    st.lists(
        st.one_of(st.sampled_from(_VERIFY_BUCKETS), st.floats(min_value=0.0, max_value=0.1)),
        max_size=300,
    )
)
@settings(max_examples=30, deadline=None)
def test_batched_histograms_equal_direct_observations(values: list[float]) -> None:
    """Tallying per bucket and flushing gives exactly what observe() per value gives."""
    m = GatewayMetrics()
    reference = CollectorRegistry()
    direct = Histogram("ref_seconds", "reference", buckets=_VERIFY_BUCKETS, registry=reference)
    for v in values:
        m.verify_latency(v)
        direct.observe(v)
    mine = {
        s.labels.get("le"): s.value
        for s in _families(m.render()[0])["jwtgate_verify_seconds"]
        if s.name == "jwtgate_verify_seconds_bucket"
    }
    ref = {
        s.labels.get("le"): s.value
        for f in reference.collect()
        for s in f.samples
        if s.name == "ref_seconds_bucket"
    }
    assert mine == ref


async def test_batches_flush_once_per_interval() -> None:
    m = GatewayMetrics(flush_interval=0.05)

    def total() -> float | None:
        # Read the registry directly: render() would flush.
        return m.registry.get_sample_value(
            "jwtgate_requests_total", {"route": "r", "status": "200"}
        )

    for _ in range(100):
        m.request("r", 200, 0.001)
        m.auth("allowed", "ok")
    assert total() is None  # still tallied: the interval has not passed
    await asyncio.sleep(0)
    assert total() is None  # a loop iteration alone does not flush (no getpid per turn)
    await asyncio.sleep(0.2)
    assert total() == 100
    for _ in range(LATENCY_BATCH + 44):  # one endless iteration: batches are still bounded
        m.request("r", 200, 0.001)
    assert total() == 100 + LATENCY_BATCH
    await asyncio.sleep(0.2)
    assert total() == 144 + LATENCY_BATCH
    assert (
        m.registry.get_sample_value("jwtgate_auth_total", {"outcome": "allowed", "code": "ok"})
        == 100
    )


async def test_an_early_flush_cancels_the_timer() -> None:
    m = GatewayMetrics(flush_interval=0.05)
    m.request("r", 200, 0.001)
    m.render()  # flushes, so the pending timer has nothing left to do
    assert m._timer is None
    m.request("r", 200, 0.001)
    await asyncio.sleep(0.2)
    assert (
        m.registry.get_sample_value("jwtgate_requests_total", {"route": "r", "status": "200"}) == 2
    )


def test_without_a_loop_every_call_is_flushed() -> None:
    m = GatewayMetrics()
    m.request("r", 200, 0.001)
    value = m.registry.get_sample_value("jwtgate_requests_total", {"route": "r", "status": "200"})
    assert value == 1


def test_one_count_per_request_feeds_stats_and_metrics() -> None:
    """record() counts once; requests, denied auth outcomes and 429s come from that count."""
    stats, m = GatewayStats(), GatewayMetrics()
    m.follow(stats.counts)
    access = AccessLogger(enabled=False)
    res = cast(Resources, SimpleNamespace(stats=stats, metrics=m, access=access))
    scope = {"method": "GET", "path": "/", "client": ("127.0.0.1", 1)}
    answers = [
        *[("echo", 200, None)] * 3,
        ("echo", 401, "token_expired"),
        ("echo", 429, "rate_limited"),
        ("admin", 200, "dry_run:insufficient_scope"),
    ]
    for route, status, code in answers:
        out = Outcome()
        out.route, out.status, out.code = route, status, code
        record(scope, res, out)
    s = _samples(m)
    assert s[("jwtgate_requests_total", (("route", "echo"), ("status", "200")))] == 3
    assert s[("jwtgate_requests_total", (("route", "echo"), ("status", "429")))] == 1
    assert s[("jwtgate_requests_total", (("route", "admin"), ("status", "200")))] == 1
    assert s[("jwtgate_request_seconds_count", (("route", "echo"),))] == 5
    assert s[("jwtgate_auth_total", (("code", "token_expired"), ("outcome", "denied")))] == 1
    assert s[("jwtgate_auth_total", (("code", "rate_limited"), ("outcome", "denied")))] == 1
    denied_dry = (("code", "dry_run:insufficient_scope"), ("outcome", "denied"))
    assert s[("jwtgate_auth_total", denied_dry)] == 1
    assert s[("jwtgate_rate_limited_total", (("route", "echo"),))] == 1
    assert json.loads(stats.render(0, 0)) == {
        "requests": 6,
        "allowed": 3,
        "denied": {"dry_run:insufficient_scope": 1, "rate_limited": 1, "token_expired": 1},
        "statuses": {"200": 4, "401": 1, "429": 1},
        "cache": {"hits": 0, "misses": 0},
    }
    record(scope, res, out)  # counted after a flush: only the increase is added
    assert _samples(m)[("jwtgate_requests_total", (("route", "admin"), ("status", "200")))] == 2


def test_admitted_tokens_counted_with_the_request() -> None:
    """An admitted token is an ``allowed`` auth outcome, even when a later stage refuses."""
    stats, m = GatewayStats(), GatewayMetrics()
    m.follow(stats.counts)
    res = cast(
        Resources, SimpleNamespace(stats=stats, metrics=m, access=AccessLogger(enabled=False))
    )
    scope = {"method": "GET", "path": "/", "client": ("127.0.0.1", 1)}
    for status, code, allowed in [
        (200, None, True),
        (200, None, True),
        (429, "rate_limited", True),
        (200, None, False),  # a public route or an anonymous request
        (401, "token_expired", False),
    ]:
        out = Outcome()
        out.route, out.status, out.code, out.allowed = "echo", status, code, allowed
        record(scope, res, out)
    s = _samples(m)
    assert s[("jwtgate_auth_total", (("code", "ok"), ("outcome", "allowed")))] == 3
    assert s[("jwtgate_auth_total", (("code", "rate_limited"), ("outcome", "denied")))] == 1
    assert s[("jwtgate_requests_total", (("route", "echo"), ("status", "200")))] == 3
    assert json.loads(stats.render(0, 0))["allowed"] == 3
