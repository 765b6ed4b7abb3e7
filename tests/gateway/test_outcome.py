"""record(): one count, one latency observation and one access-log line per request."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any, cast

from jwtgate.gateway.accesslog import AccessLogger
from jwtgate.gateway.metrics import LATENCY_BATCH, GatewayMetrics
from jwtgate.gateway.outcome import Outcome, record
from jwtgate.gateway.state import Resources
from jwtgate.gateway.stats import GatewayStats


class _Res:
    def __init__(self, metrics: GatewayMetrics | None) -> None:
        self.stats = GatewayStats()
        self.metrics = metrics
        self.access = AccessLogger(io.StringIO(), flush_interval=3600.0)
        if metrics is not None:
            metrics.follow(self.stats.counts)


def _record(res: _Res, route: str, status: int = 200) -> None:
    out = Outcome()
    out.route, out.status, out.request_id = route, status, b"0a1b2c3d4e000001"
    scope: dict[str, Any] = {"method": "GET", "path": "/x", "client": ("10.0.0.1", 1)}
    record(scope, cast(Resources, res), out)


def _sample(m: GatewayMetrics, name: str, route: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, {"route": route, **labels})


def test_every_request_is_counted_observed_and_logged() -> None:
    m = GatewayMetrics()
    res = _Res(m)
    for route in ("a", "a", "b", "a"):  # a's first request creates its tally, the rest reuse it
        _record(res, route)
    m.flush()
    assert _sample(m, "jwtgate_request_seconds_count", "a") == 3
    assert _sample(m, "jwtgate_request_seconds_count", "b") == 1
    assert _sample(m, "jwtgate_request_seconds_bucket", "a", le="+Inf") == 3
    assert _sample(m, "jwtgate_requests_total", "a", status="200") == 3
    assert m.latencies["a"].n == 0  # handed over
    assert res.stats.requests == 4
    res.access.flush()
    stream = cast(io.StringIO, res.access._stream)
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert [x["route"] for x in lines] == ["a", "a", "b", "a"]
    assert all(x["request_id"] == "0a1b2c3d4e000001" for x in lines)


def test_without_metrics_the_request_is_still_counted_and_logged() -> None:
    res = _Res(None)
    _record(res, "a", 404)
    assert res.stats.statuses == {404: 1}


async def test_each_routes_batch_is_bounded_by_its_own_requests() -> None:
    m = GatewayMetrics(flush_interval=3600.0)
    res = _Res(m)

    def armed() -> bool:
        return m.scheduled

    for _ in range(LATENCY_BATCH - 1):  # one endless loop iteration: no timer runs
        _record(res, "a")
        _record(res, "b")
    assert _sample(m, "jwtgate_request_seconds_count", "a") == 0  # still tallied
    _record(res, "a")  # a's batch is full: everything is handed over
    assert _sample(m, "jwtgate_request_seconds_count", "a") == LATENCY_BATCH
    assert _sample(m, "jwtgate_request_seconds_count", "b") == LATENCY_BATCH - 1
    assert not armed()
    _record(res, "b")  # the next tally arms the timer again
    assert armed()
    m.flush()
    await asyncio.sleep(0)
