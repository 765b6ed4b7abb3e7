"""Gateway benchmark: jwtgate against nginx and a naive Python gateway, on loopback.

One run measures, with the same wrk settings for every row:

1. the upstream alone (nginx returning a fixed 200);
2. nginx as a plain reverse proxy to it (no auth) - the reference;
3. the Python floor (``floor_proxy.py``): a uvloop + httptools forwarder that
   checks and rewrites nothing, showing what the interpreter and event loop
   alone cost (``--no-floor`` skips it);
4. jwtgate with ES256 and RS256 tokens, verified-token cache on and off, one
   token and N distinct tokens (wrk rotates ``Authorization`` headers from a
   file), and for ES256 with the cache on, one token on requests that all
   differ (an ``X-Trace-Id`` per request, so no memo of a repeated request
   applies), with every feature on: metrics, JSON access log to a file, a
   per-subject rate limit high enough never to refuse;
5. a naive FastAPI + PyJWT + httpx gateway (``naive_gateway.py``).

It prints req/s, p50, p99 and the ratio to nginx per row, checks the
targets of issue 5 (the one-token target on the median of ``--pairs``
interleaved nginx / jwtgate runs, since a shared machine's load drifts
between rows measured minutes apart), and reports gateway worker memory (RSS from /proc) with
N distinct live tokens.  ``--quick`` is a smoke run; ``--json`` prints JSON;
``--redis URL`` sends revocations through Redis (the multi-host setup) and adds
rows with the Redis rate limiter (one Redis round trip per request).

    scripts/bench-gateway.sh            # installs nginx and wrk if missing
    .venv/bin/python benchmarks/gateway.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upstream import (
    DISTINCT_REQUESTS_LUA,
    ROTATE_TOKENS_LUA,
    WrkResult,
    cpu_seconds,
    free_port,
    nginx_conf,
    run_wrk,
    start_process,
    stop_process,
    wait_port,
    worker_rss,
)

ISSUER = "https://bench.jwtgate.test"
AUDIENCE = "bench"
PY = sys.executable
FLOOR_ROW = "Python floor: uvloop+httptools forwarder, no checks"


@dataclass
class Settings:
    """The knobs of one benchmark run."""

    connections: int = 64
    threads: int = 2
    duration: float = 10.0
    warmup: float = 2.0
    tokens: int = 10_000
    workers: int = 2
    naive: bool = True
    jwtgate: bool = True
    redis_url: str | None = None
    algorithms: tuple[str, ...] = ("ES256", "RS256")
    pairs: int = 3
    floor: bool = True


@dataclass
class Row:
    """One measured configuration."""

    name: str
    result: WrkResult
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Holder:
    active: Any


def make_tokens(workdir: Path, count: int, algorithms: tuple[str, ...]) -> dict[str, Path]:
    """Keys, a JWKS file and ``count`` distinct tokens per algorithm (one per line)."""
    from jwtgate.jose import AccessTokenMinter, generate_key

    files: dict[str, Path] = {}
    jwks: list[dict[str, Any]] = []
    for alg in algorithms:
        key = (
            generate_key(alg, rsa_bits=2048) if alg.startswith(("RS", "PS")) else generate_key(alg)
        )
        jwks.append(key.public_jwk())
        minter = AccessTokenMinter(
            _Holder(key), issuer=ISSUER, audience=AUDIENCE, default_ttl=3600, max_ttl=3600
        )
        path = workdir / f"tokens-{alg}.txt"
        lines = (
            minter.mint(f"user{i}", scope="read write", roles=["user"]).token for i in range(count)
        )
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files[alg] = path
    (workdir / "jwks.json").write_text(json.dumps({"keys": jwks}), encoding="utf-8")
    return files


def gateway_config(
    workdir: Path,
    *,
    port: int,
    admin_port: int,
    upstream_port: int,
    workers: int,
    cache: bool,
    algorithms: tuple[str, ...],
    redis_url: str | None = None,
    redis_rate_limit: bool = False,
) -> str:
    """The jwtgate YAML for the benchmark: one issuer from a JWKS file, one route.

    With ``redis_url`` revocations go through Redis (as in any multi-host
    deployment); ``redis_rate_limit`` also moves the rate-limit buckets there.
    """
    cfg: dict[str, Any] = {
        "data_dir": str(workdir / "data"),
        "tokens": {"max_ttl": 3600, **({} if cache else {"cache_size": 0})},
        "gateway": {
            "workers": workers,
            "listeners": [{"host": "127.0.0.1", "port": port}],
            "admin_listener": {"host": "127.0.0.1", "port": admin_port},
            "issuers": [
                {
                    "issuer": ISSUER,
                    "audiences": [AUDIENCE],
                    "jwks_file": str(workdir / "jwks.json"),
                    "algorithms": list(algorithms),
                }
            ],
            "routes": [
                {
                    "name": "bench",
                    "match": {"prefix": "/"},
                    "upstream": f"http://127.0.0.1:{upstream_port}",
                    "rate_limit": {"key": "subject", "rate": 1_000_000, "burst": 1_000_000},
                }
            ],
            "access_log": True,
            "metrics": True,
            "rate_limit_backend": "redis" if redis_rate_limit else "memory",
        },
    }
    if redis_url is not None:
        cfg["revocation"] = {"backend": "redis"}
        cfg["redis"] = {"url": redis_url, "prefix": f"jwtgate-bench-{os.getpid()}:"}
    # JSON is YAML; no YAML writer needed.
    return json.dumps(cfg, indent=2) + "\n"


_CACHE_SERIES = ("jwtgate_token_cache_hits_total", "jwtgate_token_cache_misses_total")


def parse_cache_counters(text: str) -> tuple[float, float]:
    """Verified-token cache hits and misses from a Prometheus exposition."""
    found = dict.fromkeys(_CACHE_SERIES, 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found[_CACHE_SERIES[0]], found[_CACHE_SERIES[1]]


def _cache_counters(admin_port: int) -> tuple[float, float]:
    # The workers publish their cache counters once a second; wait for the tick.
    time.sleep(1.2)
    url = f"http://127.0.0.1:{admin_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return parse_cache_counters(resp.read().decode())


def _warm_up(url: str, s: Settings, fill_cache_of: int | None, **wrk: Any) -> None:
    """Warm up; with ``fill_cache_of`` (an admin port), until the caches are warm.

    Rows with distinct tokens measure the steady state with N live tokens,
    not the cold misses of a fresh gateway: every worker must first see every
    token, which takes several passes because the kernel spreads connections
    over the workers unevenly.  Warm-up repeats until a chunk has a cache hit
    ratio of 95 % or more (at most 120 s).
    """
    deadline = time.monotonic() + 120.0
    while True:
        before = _cache_counters(fill_cache_of) if fill_cache_of is not None else None
        run_wrk(url, connections=s.connections, threads=s.threads, duration=s.warmup, **wrk)
        if fill_cache_of is None or before is None or time.monotonic() >= deadline:
            return
        hits, misses = _cache_counters(fill_cache_of)
        dh, dm = hits - before[0], misses - before[1]
        if dh + dm == 0 or dh / (dh + dm) >= 0.95:
            return


def _measure(
    name: str,
    url: str,
    s: Settings,
    server: int,
    admin_port: int | None = None,
    cache: bool = False,
    **wrk: Any,
) -> Row:
    """One row; ``server`` is the pid whose process tree's CPU time is charged to it."""
    if s.warmup > 0:
        _warm_up(url, s, admin_port if "script" in wrk and cache else None, **wrk)
    cache_before = _cache_counters(admin_port) if admin_port is not None else None
    cpu_before = cpu_seconds(server)
    result = run_wrk(url, connections=s.connections, threads=s.threads, duration=s.duration, **wrk)
    cpu = cpu_seconds(server) - cpu_before
    # CPU per request is steadier than req/s on a shared machine: it does not
    # depend on how much CPU the neighbours left over.
    extra: dict[str, Any] = {
        "server_cpu_us": round(cpu / result.requests * 1e6, 1) if result.requests else None
    }
    if admin_port is not None and cache_before is not None:
        hits, misses = _cache_counters(admin_port)
        dh, dm = hits - cache_before[0], misses - cache_before[1]
        extra["cache_hit_ratio"] = round(dh / (dh + dm), 3) if dh + dm else None
    print(f"  {name}: {result.requests_per_s:,.0f} req/s", file=sys.stderr, flush=True)
    return Row(name, result, extra)


def _token_rows(
    label: str,
    url: str,
    s: Settings,
    tokens: dict[str, Path],
    lua: Path,
    server: int,
    admin_port: int,
    cache: bool,
) -> list[Row]:
    rows = []
    for alg, path in tokens.items():
        first = path.read_text(encoding="utf-8").split("\n", 1)[0]
        rows.append(
            _measure(
                f"{label} {alg} 1 token",
                url,
                s,
                server,
                admin_port,
                cache,
                header=f"Authorization: Bearer {first}",
            )
        )
        if cache and alg == "ES256":
            rows.append(
                _measure(
                    f"{label} {alg} 1 token, distinct requests",
                    url,
                    s,
                    server,
                    admin_port,
                    cache,
                    script=lua.with_name("distinct.lua"),
                    script_args=(first,),
                )
            )
        rows.append(
            _measure(
                f"{label} {alg} {s.tokens:,} tokens",
                url,
                s,
                server,
                admin_port,
                cache,
                script=lua,
                script_args=(str(path),),
            )
        )
    return rows


def _run_jwtgate(
    workdir: Path,
    s: Settings,
    upstream_port: int,
    tokens: dict[str, Path],
    lua: Path,
    *,
    cache: bool,
    redis_rate_limit: bool = False,
    nginx: tuple[str, int] | None = None,
) -> tuple[list[Row], list[int], list[tuple[float, float]]]:
    port, admin = free_port(), free_port()
    label = f"jwtgate cache {'on' if cache else 'off'}"
    if redis_rate_limit:
        label += ", Redis rate limit"
    cfg = workdir / f"gateway-{port}.yaml"
    cfg.write_text(
        gateway_config(
            workdir,
            port=port,
            admin_port=admin,
            upstream_port=upstream_port,
            workers=s.workers,
            cache=cache,
            algorithms=tuple(tokens),
            redis_url=s.redis_url,
            redis_rate_limit=redis_rate_limit,
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open(workdir / "access.log", "ab") as log:
        proc = start_process(
            [PY, "-m", "jwtgate.gateway", "--config", str(cfg)], env=env, stdout=log
        )
        try:
            wait_port(port, proc)
            url = f"http://127.0.0.1:{port}/bench"
            rows = _token_rows(label, url, s, tokens, lua, proc.pid, admin, cache)
            rss = worker_rss(proc.pid)
            pairs = []
            if nginx is not None and "ES256" in tokens:
                first = tokens["ES256"].read_text(encoding="utf-8").split("\n", 1)[0]
                for i in range(s.pairs):
                    base = _measure(f"pair {i + 1}: nginx", nginx[0], s, nginx[1])
                    ours = _measure(
                        f"pair {i + 1}: {label} ES256 1 token",
                        url,
                        s,
                        proc.pid,
                        header=f"Authorization: Bearer {first}",
                    )
                    pairs.append((base.result.requests_per_s, ours.result.requests_per_s))
        finally:
            stop_process(proc)
    return rows, rss, pairs


def _run_naive(
    workdir: Path, s: Settings, upstream_port: int, tokens: dict[str, Path]
) -> list[Row]:
    alg = "ES256" if "ES256" in tokens else next(iter(tokens))
    port = free_port()
    env = {
        **os.environ,
        "NAIVE_UPSTREAM": f"http://127.0.0.1:{upstream_port}",
        "NAIVE_JWKS": str(workdir / "jwks.json"),
        "NAIVE_ISSUER": ISSUER,
        "NAIVE_AUDIENCE": AUDIENCE,
    }
    argv = [
        PY, "-m", "uvicorn", "--app-dir", str(Path(__file__).resolve().parent),
        "naive_gateway:app", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(s.workers), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    proc = start_process(argv, env=env)
    try:
        wait_port(port, proc)
        first = tokens[alg].read_text(encoding="utf-8").split("\n", 1)[0]
        url = f"http://127.0.0.1:{port}/bench"
        return [
            _measure(
                f"naive FastAPI+PyJWT+httpx {alg} 1 token",
                url,
                s,
                proc.pid,
                header=f"Authorization: Bearer {first}",
            )
        ]
    finally:
        stop_process(proc)


def _run_floor(s: Settings, upstream_port: int) -> Row:
    """The Python floor: ``floor_proxy.py`` (uvloop + httptools, no checks at all)."""
    port = free_port()
    script = Path(__file__).resolve().parent / "floor_proxy.py"
    argv = [PY, str(script), "--port", str(port), "--upstream-port", str(upstream_port)]
    proc = start_process([*argv, "--workers", str(s.workers)])
    try:
        wait_port(port, proc)
        return _measure(FLOOR_ROW, f"http://127.0.0.1:{port}/", s, proc.pid)
    finally:
        stop_process(proc)


def run(s: Settings) -> dict[str, Any]:
    """Run every row; returns the report (rows, memory, targets)."""
    if shutil.which("nginx") is None:
        raise RuntimeError("nginx is not installed (scripts/bench-gateway.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="jwtgate-bench-") as tmp:
        workdir = Path(tmp)
        print("minting tokens...", file=sys.stderr, flush=True)
        tokens = make_tokens(workdir, s.tokens, s.algorithms)
        lua = workdir / "rotate.lua"
        lua.write_text(ROTATE_TOKENS_LUA, encoding="utf-8")
        lua.with_name("distinct.lua").write_text(DISTINCT_REQUESTS_LUA, encoding="utf-8")
        upstream_port, proxy_port = free_port(), free_port()
        conf = workdir / "nginx.conf"
        conf.write_text(
            nginx_conf(
                workdir, upstream_port=upstream_port, proxy_port=proxy_port, workers=s.workers
            ),
            encoding="utf-8",
        )
        nginx = start_process(
            ["nginx", "-p", str(workdir), "-e", str(workdir / "nginx-error.log"), "-c", str(conf)]
        )
        rows: list[Row] = []
        rss: list[int] = []
        pairs: list[tuple[float, float]] = []
        try:
            wait_port(upstream_port, nginx)
            wait_port(proxy_port, nginx)
            nginx_url = f"http://127.0.0.1:{proxy_port}/"
            rows.append(
                _measure(
                    "upstream alone (nginx 200)", f"http://127.0.0.1:{upstream_port}/", s, nginx.pid
                )
            )
            rows.append(_measure("nginx reverse proxy, no auth", nginx_url, s, nginx.pid))
            if s.floor:
                rows.append(_run_floor(s, upstream_port))
            for cache in (True, False) if s.jwtgate else ():
                got, mem, found = _run_jwtgate(
                    workdir,
                    s,
                    upstream_port,
                    tokens,
                    lua,
                    cache=cache,
                    nginx=(nginx_url, nginx.pid) if cache else None,
                )
                rows += got
                if cache:
                    rss, pairs = mem, found
            if s.jwtgate and s.redis_url is not None:
                only_es = {a: p for a, p in tokens.items() if a == "ES256"} or tokens
                got, _, _ = _run_jwtgate(
                    workdir, s, upstream_port, only_es, lua, cache=True, redis_rate_limit=True
                )
                rows += got
            if s.naive:
                rows += _run_naive(workdir, s, upstream_port, tokens)
        finally:
            stop_process(nginx)
    return report(rows, rss, s, pairs)


def report(
    rows: list[Row], rss: list[int], s: Settings, pairs: list[tuple[float, float]] | None = None
) -> dict[str, Any]:
    """Ratios to nginx, targets of issue 5, memory.

    With ``pairs`` (nginx and jwtgate ES256 one-token req/s, measured back to
    back), the one-token target is judged on their median ratio.
    """
    by_name = {r.name: r.result for r in rows}
    nginx = by_name.get("nginx reverse proxy, no auth")
    base = nginx.requests_per_s if nginx else 0.0
    out_rows = []
    for r in rows:
        d = {"name": r.name, **r.result.as_dict(), **r.extra}
        d["vs_nginx"] = round(r.result.requests_per_s / base, 3) if base else None
        out_rows.append(d)
    naive = next((r.result for r in rows if r.name.startswith("naive")), None)
    one = by_name.get("jwtgate cache on ES256 1 token")
    many = by_name.get(f"jwtgate cache on ES256 {s.tokens:,} tokens")
    targets = {}
    ratios = sorted(ours / theirs for theirs, ours in pairs or () if theirs)
    paired = statistics.median(ratios) if ratios else None
    if paired is not None:
        targets["ES256 1 token >= 0.5x nginx (median of interleaved pairs)"] = paired >= 0.5
    elif one and base:
        targets["ES256 1 token >= 0.5x nginx"] = one.requests_per_s / base >= 0.5
    if many and base:
        targets[f"ES256 {s.tokens:,} tokens >= 0.3x nginx"] = many.requests_per_s / base >= 0.3
    if one and naive:
        targets[">= 20x naive gateway"] = one.requests_per_s >= 20 * naive.requests_per_s
    if rss:
        targets["worker RSS <= 100 MB"] = max(rss) <= 100 * 1024 * 1024
    return {
        "settings": {
            "connections": s.connections,
            "threads": s.threads,
            "duration_s": s.duration,
            "distinct_tokens": s.tokens,
            "workers": s.workers,
            "cpus": os.cpu_count(),
            "redis": s.redis_url is not None,
        },
        "rows": out_rows,
        "pairs": [
            {"nginx_rps": round(a), "jwtgate_rps": round(b), "ratio": round(b / a, 3)}
            for a, b in pairs or ()
            if a
        ],
        "paired_ratio": round(paired, 3) if paired is not None else None,
        "worker_rss_mb": [round(b / 2**20, 1) for b in rss],
        "targets": targets,
    }


def format_table(rep: dict[str, Any]) -> str:
    """A Markdown table of the report, plus memory and target lines."""
    lines = [
        "| configuration | req/s | p50 ms | p99 ms | x nginx | server CPU us/req "
        "| cache hits | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rep["rows"]:
        ratio = f"{r['vs_nginx']:.2f}" if r["vs_nginx"] is not None else "-"
        cpu = r.get("server_cpu_us")
        cpu_text = f"{cpu:,.0f}" if cpu is not None else "-"
        hit = r.get("cache_hit_ratio")
        hit_text = f"{hit:.0%}" if hit is not None else "-"
        lines.append(
            f"| {r['name']} | {r['requests_per_s']:,.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {ratio} | {cpu_text} | {hit_text} | "
            f"{r['non_2xx'] + r['socket_errors']} |"
        )
    if rep.get("pairs"):
        lines.append("")
        lines.append("interleaved pairs (nginx proxy, then jwtgate ES256 1 token, back to back):")
        for i, p in enumerate(rep["pairs"], 1):
            lines.append(
                f"  pair {i}: {p['nginx_rps']:,} vs {p['jwtgate_rps']:,} req/s = {p['ratio']:.2f}x"
            )
        lines.append(f"  median ratio: {rep['paired_ratio']:.2f}x")
    if rep["worker_rss_mb"]:
        lines.append("")
        lines.append(f"jwtgate worker RSS after the distinct-token runs: {rep['worker_rss_mb']} MB")
    for name, ok in rep["targets"].items():
        lines.append(f"target {name}: {'met' if ok else 'NOT met'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 2 s rows, 1,000 tokens")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--duration", type=float, help="seconds per row (default 10)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="gateway worker processes")
    p.add_argument("--tokens", type=int, help="distinct tokens (default 10,000)")
    p.add_argument("--no-naive", action="store_true", help="skip the naive gateway")
    p.add_argument(
        "--pairs", type=int, default=3, help="interleaved nginx / jwtgate one-token pairs"
    )
    p.add_argument("--no-jwtgate", action="store_true", help="skip jwtgate (baselines only)")
    p.add_argument(
        "--no-floor", action="store_true", help="skip the Python floor row (floor_proxy.py)"
    )
    p.add_argument(
        "--redis",
        metavar="URL",
        help="revocations through this Redis, plus rows with the Redis rate limiter",
    )
    a = p.parse_args(argv)
    s = Settings(
        connections=a.connections,
        threads=a.threads,
        workers=a.workers,
        naive=not a.no_naive,
        pairs=max(0, a.pairs),
        jwtgate=not a.no_jwtgate,
        floor=not a.no_floor,
        redis_url=a.redis,
    )
    if a.quick:
        s.duration, s.warmup, s.tokens = 2.0, 1.0, 1_000
    if a.duration is not None:
        s.duration = a.duration
    if a.tokens is not None:
        s.tokens = a.tokens
    started = time.monotonic()
    rep = run(s)
    rep["elapsed_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(rep, indent=2) if a.json else format_table(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
