"""Loopback plumbing for the gateway benchmark: nginx, wrk, processes, memory.

nginx plays two parts: the upstream (a fixed ``200`` served from memory, the
fairest "upstream alone") and the reference reverse proxy without auth.
Everything runs on 127.0.0.1 with free ports, in a temporary directory, and
every process started here is stopped by its own process-group id.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DISTINCT_REQUESTS_LUA",
    "ROTATE_TOKENS_LUA",
    "WrkResult",
    "cpu_seconds",
    "free_port",
    "nginx_conf",
    "parse_wrk",
    "run_wrk",
    "start_process",
    "stop_process",
    "wait_port",
    "worker_rss",
]

UPSTREAM_BODY = '{"ok":true}'

# Each wrk thread's number, as the global ``id`` in its own Lua state.
_THREAD_IDS_LUA = """
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
"""

# wrk runs setup() once per thread in the main Lua state, then init() in each
# thread's own state.  Every run and every thread starts at a different random
# offset (run_wrk passes a fresh seed after the token file): an unseeded math.random
# would start every run at the same token, so short runs would keep seeing
# the same few thousand tokens.
ROTATE_TOKENS_LUA = (
    _THREAD_IDS_LUA
    + """local tokens = {}
local idx = 0
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
  end
  math.randomseed(tonumber(args[2] or "0") + 7919 * (id or 0))
  idx = math.random(#tokens)
end
function request()
  idx = idx % #tokens + 1
  return wrk.format(nil, nil, {["Authorization"] = tokens[idx]})
end
"""
)


# One token, but no two requests alike: each carries its own X-Trace-Id (as
# traced service-to-service traffic does), so nothing that recognises a
# repeated request applies; the token stays in the verified-token cache.
DISTINCT_REQUESTS_LUA = (
    _THREAD_IDS_LUA
    + """local auth
local n = 0
function init(args)
  auth = "Bearer " .. args[1]
  n = (id or 0) * 1000000000
end
function request()
  n = n + 1
  local trace = string.format("%016x", n)
  return wrk.format(nil, nil, {["Authorization"] = auth, ["X-Trace-Id"] = trace})
end
"""
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_conf(workdir: Path, *, upstream_port: int, proxy_port: int, workers: int = 2) -> str:
    """An nginx.conf: a fixed-200 upstream and a keep-alive reverse proxy in front of it."""
    w = workdir
    return f"""\
worker_processes {workers};
daemon off;
master_process on;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {w}/client_body;
    proxy_temp_path {w}/proxy_temp;
    fastcgi_temp_path {w}/fastcgi_temp;
    uwsgi_temp_path {w}/uwsgi_temp;
    scgi_temp_path {w}/scgi_temp;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    upstream bench_backend {{
        server 127.0.0.1:{upstream_port};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{upstream_port} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{UPSTREAM_BODY}';
        }}
    }}
    server {{
        listen 127.0.0.1:{proxy_port} backlog=4096;
        location / {{
            proxy_pass http://bench_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def start_process(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    stdout: IO[Any] | int | None = subprocess.DEVNULL,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session so it (and its workers) can be stopped as a group."""
    return subprocess.Popen(
        argv,
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout not in (None, subprocess.DEVNULL) else None,
        cwd=cwd,
        start_new_session=True,
    )


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group we started, SIGKILL it after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, limit: float = 30.0) -> None:
    """Block until something accepts on 127.0.0.1:``port`` (or fail clearly)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {limit:.0f}s")


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(text: str) -> WrkResult:
    """Parse ``wrk --latency`` output; raises ValueError if it is not there."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in", text, re.M)
    p50 = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    if not (rps and total and p50 and p99):
        raise ValueError("not wrk --latency output")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(
        requests_per_s=float(rps.group(1)),
        p50_ms=_ms(*p50.groups()),
        p99_ms=_ms(*p99.groups()),
        requests=int(total.group(1)),
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
    )


def run_wrk(
    url: str,
    *,
    connections: int,
    threads: int,
    duration: float,
    header: str | None = None,
    script: Path | None = None,
    script_args: tuple[str, ...] = (),
) -> WrkResult:
    """Run wrk once against ``url`` and parse its report."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (scripts/bench-gateway.sh installs it)")
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if header is not None:
        argv += ["-H", header]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if script is not None:
        argv += ["--", *script_args, str(random.randrange(2**31))]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=duration + 60)
    return parse_wrk(out.stdout)


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the parenthesised command name, which may contain spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            kids.append(int(entry.name))
    return kids


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def worker_rss(pid: int) -> list[int]:
    """RSS in bytes of each worker of the server ``pid`` (itself if it has none)."""
    pids = _children(pid) or [pid]
    out = []
    for p in pids:
        with contextlib.suppress(OSError):
            out.append(_rss_bytes(p))
    return out


def _cpu(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # utime and stime are fields 14 and 15 of /proc/PID/stat (proc(5)), in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its live children."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            total += _cpu(p)
    return total
