"""Auth server benchmark: login throughput vs raw argon2id, refresh-grant throughput.

Starts the auth server (``jwtgate.auth.serve_standalone``, lean HTTP server) in a
child process on a free loopback port, with a fresh data directory (SQLite by
default, or ``--database-url``), and drives it from this process over N
concurrent keep-alive connections with the minimal client of ``loadgen.py``
(so the generator takes little of the two cores the server needs).

Rows:

* ``argon2id raw``  - ``PasswordHasher.verify`` with the same parameters, in as
  many threads as the server uses for hashing, with nothing else running
  (alternated with the login row in ``--rounds`` slices, totals compared);
* ``login``         - ``POST /auth/login`` (JSON) end to end; the server's
  overhead is ``1 - login / raw`` (target <= 10 %);
* ``refresh``       - ``POST /auth/token`` ``grant_type=refresh_token`` chains,
  each worker rotating its own family (target >= 2,000/s with SQLite).

Usage::

    python benchmarks/auth.py [--duration 5] [--concurrency 32] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import Connection, post

# Refresh tokens are URL-safe base64 (RFC 4648 section 5): no form escaping needed.
_REFRESH_TOKEN = re.compile(rb'"refresh_token":"([A-Za-z0-9_-]+)"')
_FORM = "application/x-www-form-urlencoded"
USER = "bench"
PASSWORD = "bench-password-1"  # benchmark-only credential in a throwaway directory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(data_dir: Path, port: int, database_url: str | None) -> dict[str, Any]:
    return {
        "data_dir": str(data_dir),
        "tokens": {"issuer": f"http://127.0.0.1:{port}/auth"},
        "auth": {
            "database_url": database_url,
            # One client address hammers one account: keep the throttle out of the way.
            "throttle": {"pair_max_failures": 10**6, "ip_max_failures": 10**6},
        },
    }


def _serve(config_json: str, port: int, reuse_port: bool) -> None:
    import uvloop

    from jwtgate.auth import serve_standalone
    from jwtgate.config import JwtGateConfig

    config = JwtGateConfig.model_validate(json.loads(config_json))
    uvloop.run(serve_standalone(config, port=port, reuse_port=reuse_port))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``), 0.0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _raw_argon2(duration: float, threads: int) -> float:
    from argon2 import PasswordHasher

    from jwtgate.config.auth import Argon2Settings

    s = Argon2Settings()
    hasher = PasswordHasher(
        time_cost=s.time_cost, memory_cost=s.memory_cost, parallelism=s.parallelism
    )
    digest = hasher.hash(PASSWORD)
    deadline = time.perf_counter() + duration

    def work() -> int:
        n = 0
        while time.perf_counter() < deadline:
            hasher.verify(digest, PASSWORD)
            n += 1
        return n

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: work(), range(threads)))
    return total / (time.perf_counter() - start)


async def _seed(config: dict[str, Any]) -> None:
    from jwtgate.auth import AuthAdmin
    from jwtgate.config import JwtGateConfig

    async with AuthAdmin.open(JwtGateConfig.model_validate(config)) as admin:
        await admin.ensure_user(USER, PASSWORD, ["user"])


async def _wait_ready(base: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.get(f"{base}/.well-known/jwks.json") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("the auth server did not start")


async def _login_rate(base: str, duration: float, concurrency: int) -> tuple[float, int]:
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    body = json.dumps({"username": USER, "password": PASSWORD}).encode()
    request = post(host, port, f"{url.path}/login", "application/json", body)
    errors = 0
    done = 0
    conns = [await Connection.open(host, port) for _ in range(concurrency)]
    deadline = time.perf_counter() + duration

    async def worker(conn: Connection) -> None:
        nonlocal done, errors
        while time.perf_counter() < deadline:
            status, _ = await conn.request(request)
            if status == 200:
                done += 1
            else:
                errors += 1

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for conn in conns:
            conn.close()
    return done / (time.perf_counter() - start), errors


async def _refresh_rate(base: str, duration: float, concurrency: int) -> tuple[float, int]:
    import aiohttp

    errors = 0
    done = 0
    async with aiohttp.ClientSession() as http:
        tokens = []
        for _ in range(concurrency):
            async with http.post(
                f"{base}/login", json={"username": USER, "password": PASSWORD}
            ) as r:
                tokens.append((await r.json())["refresh_token"])
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    conns = [await Connection.open(host, port) for _ in range(concurrency)]
    deadline = time.perf_counter() + duration

    async def worker(conn: Connection, token: str) -> None:
        nonlocal done, errors
        while time.perf_counter() < deadline:
            form = b"grant_type=refresh_token&refresh_token=" + token.encode("ascii")
            status, body = await conn.request(post(host, port, f"{url.path}/token", _FORM, form))
            found = _REFRESH_TOKEN.search(body)
            if status == 200 and found is not None:
                token = found.group(1).decode("ascii")
                done += 1
            else:
                errors += 1
                return

    start = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c, t) for c, t in zip(conns, tokens, strict=True)))
    finally:
        for conn in conns:
            conn.close()
    return done / (time.perf_counter() - start), errors


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}/auth"
    with tempfile.TemporaryDirectory(prefix="jwtgate-bench-auth-") as tmp:
        config = _config(Path(tmp), port, args.database_url)
        await _seed(config)
        command = [sys.executable, __file__, "--serve", json.dumps(config), "--port", str(port)]
        if args.processes > 1:
            command.append("--reuse-port")
        children = [
            subprocess.Popen(  # noqa: ASYNC220 - started before measuring
                command, env={**os.environ, "PYTHONWARNINGS": "ignore"}
            )
            for _ in range(args.processes)
        ]
        try:
            await _wait_ready(base)
            threads = os.cpu_count() or 1  # the server's hashing pool has one thread per CPU
            # Alternate raw and login slices and compare the totals, so a change in
            # background load during the run hits both sides alike.
            raws, logins, login_errors = [], [], 0
            for _ in range(args.rounds):
                slice_s = args.duration / args.rounds
                raws.append(await asyncio.to_thread(_raw_argon2, slice_s, threads))
                rate, errs = await _login_rate(base, slice_s, args.login_concurrency)
                logins.append(rate)
                login_errors += errs
            raw, login = sum(raws) / len(raws), sum(logins) / len(logins)
            cpu_before = sum(_cpu_seconds(c.pid) for c in children)
            refresh, refresh_errors = await _refresh_rate(base, args.duration, args.concurrency)
            server_cpu = sum(_cpu_seconds(c.pid) for c in children) - cpu_before
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=30)
    overhead = 1.0 - login / raw if raw else 1.0
    return {
        "database": "postgresql" if args.database_url else "sqlite",
        "server_processes": args.processes,
        "cpus": os.cpu_count(),
        "duration_s": args.duration,
        "argon2id_raw_per_s": round(raw, 1),
        "login_per_s": round(login, 1),
        "login_overhead": round(overhead, 4),
        "login_errors": login_errors,
        "refresh_per_s": round(refresh, 1),
        "refresh_errors": refresh_errors,
        # Load-independent: server CPU per refresh (includes the row's few logins).
        "refresh_server_cpu_us": round(1e6 * server_cpu / max(1.0, refresh * args.duration), 1),
        "targets": {
            "login_overhead_max": 0.10,
            "refresh_min_per_s": 2000,
            "login_overhead_met": overhead <= 0.10,
            "refresh_met": refresh >= 2000,
        },
    }


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per row")
    parser.add_argument("--concurrency", type=int, default=32, help="refresh connections")
    parser.add_argument("--login-concurrency", type=int, default=8, help="login connections")
    parser.add_argument("--rounds", type=int, default=3, help="raw/login alternations")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default SQLite)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--processes", type=int, default=1, help="server processes sharing the port"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.port, args.reuse_port)
        return
    report = asyncio.run(_run(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    rows = [
        ("argon2id raw (verify/s)", f"{report['argon2id_raw_per_s']:,.1f}", ""),
        (
            "login (req/s)",
            f"{report['login_per_s']:,.1f}",
            f"overhead {report['login_overhead']:.1%} (target <= 10%)",
        ),
        ("refresh grant (req/s)", f"{report['refresh_per_s']:,.1f}", "target >= 2,000/s"),
        (
            "refresh server CPU (us/req)",
            f"{report['refresh_server_cpu_us']:,.1f}",
            f"= {1e6 / max(1.0, report['refresh_server_cpu_us']):,.0f}/s per core",
        ),
    ]
    print(
        f"jwtgate auth benchmark ({report['database']}, {report['cpus']} CPUs, "
        f"{report['server_processes']} server process(es), {report['duration_s']:g} s per row)"
    )
    for name, value, note in rows:
        print(f"  {name:<26} {value:>12}  {note}")
    if report["login_errors"] or report["refresh_errors"]:
        print(f"  errors: login {report['login_errors']}, refresh {report['refresh_errors']}")


if __name__ == "__main__":
    main()
