"""Smoke tests of the gateway benchmark's pure parts (the benchmark itself is not run)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from jwtgate.config import load_config_text

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, _BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


# benchmarks/gateway.py imports its sibling as ``upstream``.
upstream = sys.modules.get("upstream") or _load("upstream", "upstream")
gateway = _load("gateway", "bench_gateway")

_WRK = """\
Running 10s test @ http://127.0.0.1:41234/bench
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.05ms  30.11ms   90.12%
    Req/Sec    15.40k     1.20k   18.00k    70.00%
  Latency Distribution
     50%    1.95ms
     75%    2.40ms
     90%    3.01ms
     99%  {p99}
  306543 requests in 10.00s, 40.12MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 17
Requests/sec:  30654.30
Transfer/sec:      4.01MB
"""


@pytest.mark.parametrize(("p99", "ms"), [("850.00us", 0.85), ("6.20ms", 6.2), ("1.50s", 1500.0)])
def test_parse_wrk(p99: str, ms: float) -> None:
    r = upstream.parse_wrk(_WRK.format(p99=p99))
    assert r.requests_per_s == 30654.30
    assert r.p50_ms == pytest.approx(1.95)
    assert r.p99_ms == pytest.approx(ms)
    assert r.requests == 306543
    assert r.non_2xx == 17
    assert r.socket_errors == 3


def test_parse_wrk_refuses_other_output() -> None:
    with pytest.raises(ValueError, match="wrk"):
        upstream.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_nginx_conf(tmp_path: Path) -> None:
    conf = upstream.nginx_conf(tmp_path, upstream_port=4001, proxy_port=4002, workers=2)
    assert "daemon off;" in conf
    assert "worker_processes 2;" in conf
    assert "listen 127.0.0.1:4001" in conf
    assert "listen 127.0.0.1:4002" in conf
    assert "server 127.0.0.1:4001;" in conf
    assert f"pid {tmp_path}/nginx.pid;" in conf
    assert conf.count("{") == conf.count("}")


@pytest.mark.parametrize("cache", [True, False])
def test_gateway_config_is_valid_jwtgate_config(tmp_path: Path, cache: bool) -> None:
    text = gateway.gateway_config(
        tmp_path,
        port=4100,
        admin_port=4101,
        upstream_port=4001,
        workers=2,
        cache=cache,
        algorithms=("ES256", "RS256"),
    )
    config = load_config_text(text)
    assert config.gateway.workers == 2
    assert (config.tokens.cache_size == 0) is not cache
    route = config.gateway.routes[0]
    assert route.upstream == ("http://127.0.0.1:4001",)
    assert route.rate_limit is not None
    assert config.gateway.access_log
    assert config.gateway.metrics


def test_gateway_config_with_redis(tmp_path: Path) -> None:
    text = gateway.gateway_config(
        tmp_path,
        port=4100,
        admin_port=4101,
        upstream_port=4001,
        workers=2,
        cache=True,
        algorithms=("ES256",),
        redis_url="redis://127.0.0.1:6379/0",
        redis_rate_limit=True,
    )
    config = load_config_text(text)
    assert config.revocation.backend == "redis"
    assert config.gateway.rate_limit_backend == "redis"
    assert config.redis.url == "redis://127.0.0.1:6379/0"


def test_report_ratios_and_targets() -> None:
    s = gateway.Settings(tokens=10_000)

    def row(name: str, rps: float) -> object:
        return gateway.Row(name, upstream.WrkResult(rps, 1.0, 5.0, int(rps * 10), 0, 0))

    rows = [
        row("nginx reverse proxy, no auth", 60_000),
        row("jwtgate cache on ES256 1 token", 33_000),
        row("jwtgate cache on ES256 10,000 tokens", 15_000),
        row("naive FastAPI+PyJWT+httpx ES256 1 token", 1_300),
    ]
    rep = gateway.report(rows, [80 * 2**20, 90 * 2**20], s)
    assert rep["rows"][1]["vs_nginx"] == pytest.approx(0.55)
    assert rep["targets"] == {
        "ES256 1 token >= 0.5x nginx": True,
        "ES256 10,000 tokens >= 0.3x nginx": False,
        ">= 20x naive gateway": True,
        "worker RSS <= 100 MB": True,
    }
    table = gateway.format_table(rep)
    assert "| jwtgate cache on ES256 1 token | 33,000 |" in table
    assert "NOT met" in table


def test_wrk_rotation_script_reads_a_token_file() -> None:
    lua = upstream.ROTATE_TOKENS_LUA
    assert "io.lines(args[1])" in lua
    assert '"Bearer "' in lua
    assert "math.randomseed(tonumber(args[2]" in lua  # a fresh start offset every run


def test_wrk_distinct_requests_script_varies_every_request() -> None:
    lua = upstream.DISTINCT_REQUESTS_LUA
    assert 'auth = "Bearer " .. args[1]' in lua  # the one token, from the command line
    assert 'string.format("%016x", n)' in lua
    assert '["X-Trace-Id"] = trace' in lua
    assert "n = n + 1" in lua.split("function request()", 1)[1]  # a new value per request
    assert "(id or 0) * 1000000000" in lua  # threads count in disjoint ranges


def test_cpu_seconds_and_rss_of_this_process() -> None:
    import os

    before = upstream.cpu_seconds(os.getpid())
    sum(i * i for i in range(300_000))  # burn a little CPU
    assert upstream.cpu_seconds(os.getpid()) > before
    assert all(b > 1_000_000 for b in upstream.worker_rss(os.getpid()))


def test_table_shows_server_cpu_per_request() -> None:
    s = gateway.Settings()
    row = gateway.Row(
        "nginx reverse proxy, no auth",
        upstream.WrkResult(60_000, 1.0, 5.0, 600_000, 0, 0),
        {"server_cpu_us": 21.4},
    )
    table = gateway.format_table(gateway.report([row], [], s))
    assert "| nginx reverse proxy, no auth | 60,000 | 1.00 | 5.00 | 1.00 | 21 | - | 0 |" in table


def test_parse_cache_counters() -> None:
    text = (
        "# HELP jwtgate_token_cache_hits_total Verified-token cache hits.\n"
        "# TYPE jwtgate_token_cache_hits_total counter\n"
        "jwtgate_token_cache_hits_total 1234.0\n"
        "jwtgate_token_cache_misses_total 66.0\n"
        "jwtgate_token_cache_hit_ratio 0.949\n"
    )
    assert gateway.parse_cache_counters(text) == (1234.0, 66.0)
    assert gateway.parse_cache_counters("") == (0.0, 0.0)


def test_one_token_target_uses_the_median_of_interleaved_pairs() -> None:
    # Rows minutes apart see different load on a shared machine; back-to-back
    # pairs do not, so their median ratio decides the one-token target.
    s = gateway.Settings(tokens=10_000)
    rows = [
        gateway.Row("nginx reverse proxy, no auth", upstream.WrkResult(60_000, 1, 5, 1, 0, 0)),
        gateway.Row("jwtgate cache on ES256 1 token", upstream.WrkResult(12_000, 1, 5, 1, 0, 0)),
    ]
    pairs = [(40_000.0, 21_000.0), (50_000.0, 24_000.0), (30_000.0, 18_000.0)]
    rep = gateway.report(rows, [], s, pairs)
    assert rep["paired_ratio"] == pytest.approx(0.525)
    assert rep["targets"]["ES256 1 token >= 0.5x nginx (median of interleaved pairs)"] is True
    assert "ES256 1 token >= 0.5x nginx" not in rep["targets"]  # the single row (0.2x) is not used
    table = gateway.format_table(rep)
    assert "pair 2: 50,000 vs 24,000 req/s = 0.48x" in table
    assert "median ratio: 0.53x" in table


def test_floor_proxy_forwards_requests_on_one_keep_alive_connection() -> None:
    """The floor row's forwarder: two requests on one connection reach the upstream and back."""
    import socket
    import subprocess
    import threading

    seen: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    up_port = listener.getsockname()[1]

    def serve_upstream() -> None:
        # Connection by connection: the readiness probe's own comes (and goes) first.
        while len(seen) < 2:
            conn, _ = listener.accept()
            with conn:
                buf = b""
                while len(seen) < 2:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                    while b"\r\n\r\n" in buf:
                        head, _, buf = buf.partition(b"\r\n\r\n")
                        seen.append(head)
                        body = b"hello %d" % len(seen)
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                        )

    thread = threading.Thread(target=serve_upstream, daemon=True)
    thread.start()
    port = gateway.free_port()
    proc = subprocess.Popen(
        [sys.executable, str(_BENCH / "floor_proxy.py"), "--port", str(port),
         "--upstream-port", str(up_port), "--workers", "1"],
    )  # fmt: skip
    try:
        gateway.wait_port(port, proc)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            replies = []
            for path in (b"/a", b"/b?x=1"):
                c.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nX-Seen: 1\r\n\r\n")
                reply = b""
                while not reply.endswith(b"hello %d" % (len(replies) + 1)):
                    reply += c.recv(65536)
                replies.append(reply)
    finally:
        proc.terminate()
        proc.wait(10)
        listener.close()
    assert [r.split(b"\r\n", 1)[0] for r in replies] == [b"HTTP/1.1 200 OK"] * 2
    assert [h.split(b"\r\n", 1)[0] for h in seen] == [b"GET /a HTTP/1.1", b"GET /b?x=1 HTTP/1.1"]
    assert all(b"X-Seen: 1" in h for h in seen)


def test_instructions_reads_the_callgrind_summary(tmp_path: Path) -> None:
    instructions = _load("instructions", "bench_instructions")
    dump = tmp_path / "cg.out"
    dump.write_bytes(b"version: 1\ncreator: callgrind\nsummary: 579925703\ntotals: 595103109\n")
    assert instructions._instructions(dump) == 579925703
    dump.write_bytes(b"version: 1\n")
    with pytest.raises(RuntimeError):
        instructions._instructions(dump)
