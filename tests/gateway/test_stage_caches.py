"""Per-request caches and inlined steps: access log, metrics, target split, route choice.

A cached answer must be the answer the uncached code gives, on the first
call (a miss) and on later ones (hits), and every cache stays bounded
whatever the clients send.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from time import perf_counter
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.config import load_config_text
from jwtgate.errors import JwtGateError
from jwtgate.gateway import h1wire
from jwtgate.gateway.accesslog import _MAX_FIELD, _QUOTED_MAX, AccessLogger, _clean_path
from jwtgate.gateway.compile import CompiledRoute, compile_gateway
from jwtgate.gateway.h1wire import _split_target, split_target
from jwtgate.gateway.metrics import GatewayMetrics, _PendingHistogram
from jwtgate.gateway.routing import _select, select_route

# ---------------------------------------------------------------- access log

# Short and long, control characters, line separators, non-ASCII, lone
# surrogates, query and fragment marks, and a JWS-shaped piece.
_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet='a\r\n\x00\u2028"\\?#é\ud800', max_size=40),
    st.sampled_from(["", "GET", "x" * 33, "y" * 129, "z" * 3000, "/a?b#c", "/eyJa.b.c"]),
)


def _line(logger: AccessLogger, buf: io.StringIO, **fields: object) -> str:
    start = len(buf.getvalue())
    logger.log(**fields)  # type: ignore[arg-type]
    logger.flush()
    line = buf.getvalue()[start:]
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert line.isascii()
    return line


@settings(max_examples=300, deadline=None)
@given(
    route=_TEXT, method=_TEXT, path=_TEXT, subject=st.none() | _TEXT,
    client_ip=st.none() | _TEXT, request_id=_TEXT, error=st.none() | _TEXT,
)  # fmt: skip
def test_access_line_holds_every_field_as_before(
    route: str,
    method: str,
    path: str,
    subject: str | None,
    client_ip: str | None,
    request_id: str,
    error: str | None,
) -> None:
    buf = io.StringIO()
    logger = AccessLogger(buf)
    fields = {
        "request_id": request_id, "route": route, "method": method, "path": path,
        "status": 200, "latency_ms": 1.23456, "subject": subject, "error_code": error,
        "client_ip": client_ip,
    }  # fmt: skip
    # The same text in two fields with different cuts (method: 32) must not share a literal.
    first = _line(logger, buf, **{**fields, "route": method})
    lines = [first, _line(logger, buf, **fields), _line(logger, buf, **fields)]
    cut = lambda v: None if v is None else v[:_MAX_FIELD]  # noqa: E731
    expected = {
        "request_id": cut(request_id), "route": cut(route), "method": method[:32],
        "path": _clean_path(path), "status": 200, "latency_ms": 1.235, "sub": cut(subject),
        "error": cut(error), "client_ip": cut(client_ip),
    }  # fmt: skip
    assert json.loads(first)["route"] == method[:_MAX_FIELD]
    for line in lines[1:]:
        record = json.loads(line)
        assert list(record) == ["ts", *expected]
        assert isinstance(record.pop("ts"), float)
        assert record == expected
    # A cache hit writes the very same text as the miss before it.
    assert lines[1].split(",", 1)[1] == lines[2].split(",", 1)[1]


def _reference_line(fields: tuple[str, str, str, str, int, float, str | None, ...]) -> str:
    """The line without its ``ts``, as the logger wrote it before its tables and stamp cache."""
    request_id, route, method, path, status, latency_ms, subject, error, client_ip = fields
    q = encode_basestring_ascii
    nq = lambda v: "null" if v is None else q(v[:_MAX_FIELD])  # noqa: E731
    return (
        f'"request_id":{q(request_id[:_MAX_FIELD])},"route":{q(route[:_MAX_FIELD])},'
        f'"method":{q(method[:32])},"path":{q(_clean_path(path))},"status":{int(status)},'
        f'"latency_ms":{latency_ms:.3f},"sub":{nq(subject)},"error":{nq(error)},'
        f'"client_ip":{nq(client_ip)}}}\n'
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    calls=st.lists(
        st.tuples(_TEXT, _TEXT, _TEXT, st.none() | _TEXT, st.none() | _TEXT, st.none() | _TEXT),
        min_size=1, max_size=6,
    ),
    latency=st.floats(min_value=0.0, max_value=1e6),
    table_max=st.sampled_from([1, 2, _QUOTED_MAX]),
)  # fmt: skip
def test_access_line_bytes_are_the_reference_bytes(
    calls: list[tuple[str, str, str, str | None, str | None, str | None]],
    latency: float,
    table_max: int,
) -> None:
    buf = io.StringIO()
    logger = AccessLogger(buf, flush_interval=3600.0)
    with patch("jwtgate.gateway.accesslog._QUOTED_MAX", table_max):  # tables emptied often
        for route, method, path, subject, error, ip in calls * 2:  # misses, then hits
            fields = (f"r-{route}", route, method, path, 200, latency, subject, error, ip)
            logger.log(*fields, now=perf_counter())
            logger.flush()
            line = buf.getvalue().splitlines(keepends=True)[-1]
            ts, rest = line.split(",", 1)
            assert ts.startswith('{"ts":')
            assert abs(float(ts[6:]) - time.time()) < 5.0
            assert rest == _reference_line(fields)


def test_access_log_cache_is_bounded() -> None:
    logger = AccessLogger(io.StringIO())
    for i in range(_QUOTED_MAX + 10):
        logger.log(
            request_id="r", route="r", method="GET", path="/", status=200,
            latency_ms=1.0, subject=f"user-{i}", error_code=None, client_ip="::1",
        )  # fmt: skip
    assert 0 < len(logger._quoted) <= _QUOTED_MAX


# ---------------------------------------------------------------- metrics

_SECONDS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 0.0005, 0.001, 10.0, math.nan, math.inf]),
)


@settings(max_examples=200, deadline=None)
@given(samples=st.lists(_SECONDS, min_size=1, max_size=20))
def test_request_latency_lands_where_histogram_add_puts_it(samples: list[float]) -> None:
    async def tally() -> tuple[list[int], float, int]:
        # Inside a running loop the tallies wait for the loop's next turn.
        m = GatewayMetrics()
        for seconds in samples:
            m.request("r", 200, seconds)
        hist = m.latencies["r"]
        return list(hist.counts), hist.total, hist.n

    reference = _PendingHistogram(GatewayMetrics()._request_seconds.labels("r"))
    for seconds in samples:
        reference.add(seconds)
    assert asyncio.run(tally()) == (reference.counts, reference.total, reference.n)


# ---------------------------------------------------------------- request target

_TARGETS = st.one_of(
    st.binary(max_size=30),
    st.lists(
        st.sampled_from([b"/", b"a", b"%2F", b"%", b"?", b"#", b"=", b"\xc3\xa9", b"http://h"]),
        max_size=8,
    ).map(b"".join),
)


@settings(max_examples=400, deadline=None)
@given(target=_TARGETS)
def test_split_target_cache_answers_as_the_parser(target: bytes) -> None:
    h1wire._SPLIT.clear()
    expected = _split_target(target)
    assert split_target(target) == expected  # miss
    assert split_target(bytes(bytearray(target))) == expected  # hit, another bytes object


def test_split_target_cache_is_bounded() -> None:
    h1wire._SPLIT.clear()
    for i in range(h1wire._SPLIT_MAX + 10):
        assert split_target(b"/item/%d" % i) == (f"/item/{i}", b"/item/%d" % i, b"")
    assert split_target(b"/" + b"a" * 300) is not None
    assert 0 < len(h1wire._SPLIT) <= h1wire._SPLIT_MAX
    assert b"/" + b"a" * 300 not in h1wire._SPLIT  # long targets are not kept


# ---------------------------------------------------------------- route choice


def _routes(text: str) -> tuple[CompiledRoute, ...]:
    return compile_gateway(load_config_text(f"gateway: {{routes: [{text}]}}")).routes


# Two configurations (a reload) that answer the same paths differently.
_TABLES = (
    _routes(
        "{name: a, match: {prefix: /api}, upstream: 'http://h'},"
        "{name: b, match: {prefix: /}, upstream: 'http://h'}"
    ),
    _routes("{name: c, match: {prefix: /, methods: [POST]}, upstream: 'http://h'}"),
)


@settings(max_examples=200, deadline=None)
@given(
    queries=st.lists(
        st.tuples(
            st.sampled_from([0, 1]),
            st.sampled_from(["/", "/api", "/api/x", "/API/x", "/a/../b", "/x;y"]),
            st.sampled_from(["GET", "POST"]),
        ),
        max_size=12,
    )
)
def test_route_choice_follows_the_routes_it_is_given(queries: list[tuple[int, str, str]]) -> None:
    for table, path, method in queries:
        routes = _TABLES[table]
        expected = _chosen(_select, routes, path, method)
        assert _chosen(select_route, routes, path, method) == expected


def _chosen(
    select: Callable[[tuple[CompiledRoute, ...], str, str, bytes], CompiledRoute],
    routes: tuple[CompiledRoute, ...],
    path: str,
    method: str,
) -> str | type[Exception]:
    try:
        return select(routes, path, method, b"h").name
    except JwtGateError as exc:
        return type(exc)
