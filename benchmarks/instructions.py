"""User-space instructions per proxied request: jwtgate against the Python floor.

Wall-clock throughput moves with whatever else the machine runs; the number
of instructions a request costs does not.  This runs one process at a time
under ``valgrind --tool=callgrind`` (Debian package ``valgrind``), drives it
with ``wrk`` (16 connections, one thread) through an nginx upstream, zeroes
the counters after a warm-up and divides the instructions of a measured run
by its requests:

- ``floor``: ``floor_proxy.py`` with one process (no checks at all);
- ``jwtgate``: one gateway worker, an ES256 token already in the
  verified-token cache, every feature on (metrics, access log, rate limit),
  the configuration of ``gateway.py``;
- ``jwtgate-distinct`` (with ``--distinct``): the same, but every request
  carries its own ``X-Trace-Id``, so no memo of a repeated request applies.

    .venv/bin/python benchmarks/instructions.py            # both rows
    .venv/bin/python benchmarks/instructions.py --distinct # and the distinct-request row
    .venv/bin/python benchmarks/instructions.py --only jwtgate --seconds 8
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upstream import (
    DISTINCT_REQUESTS_LUA,
    free_port,
    nginx_conf,
    run_wrk,
    start_process,
    stop_process,
    wait_port,
)

from gateway import PY, gateway_config, make_tokens

_HERE = Path(__file__).resolve().parent
_TOTAL = re.compile(rb"^summary:\s+(\d+)", re.MULTILINE)


def _instructions(out: Path) -> int:
    """The Ir total of a callgrind dump (its ``summary:`` line)."""
    found = _TOTAL.search(out.read_bytes())
    if found is None:
        raise RuntimeError(f"no summary line in {out}")
    return int(found.group(1))


def measure(
    argv: list[str], port: int, out: Path, seconds: float, header: str | None, **wrk: Any
) -> float:
    """Instructions per request of ``argv`` (serving on ``port``) under callgrind."""
    tool = ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={out}"]
    proc = start_process([*tool, *argv])
    try:
        wait_port(port, proc, limit=120)
        url = f"http://127.0.0.1:{port}/bench"
        run_wrk(url, connections=16, threads=1, duration=3, header=header, **wrk)  # warm-up
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        result = run_wrk(url, connections=16, threads=1, duration=seconds, header=header, **wrk)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        dump = Path(f"{out}.1")
        for _ in range(100):  # the dump is written by the traced process
            if dump.exists() and _TOTAL.search(dump.read_bytes()):
                break
            time.sleep(0.1)
        return _instructions(dump) / max(1, result.requests)
    finally:
        stop_process(proc)


def main() -> int:
    """Command-line entry point: print one line (or JSON) per row."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="measured wrk run per row")
    p.add_argument("--only", choices=("floor", "jwtgate"))
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--distinct", action="store_true", help="also measure jwtgate on requests that all differ"
    )
    a = p.parse_args()
    rows: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jwtgate-instr-") as tmp:
        work = Path(tmp)
        tokens = make_tokens(work, 1, ("ES256",))
        up, proxy = free_port(), free_port()
        conf = work / "nginx.conf"
        conf.write_text(nginx_conf(work, upstream_port=up, proxy_port=proxy), encoding="utf-8")
        nginx = start_process(["nginx", "-p", str(work), "-c", str(conf)])
        try:
            wait_port(up, nginx)
            if a.only in (None, "floor"):
                port = free_port()
                argv = [PY, str(_HERE / "floor_proxy.py"), "--workers", "1"]
                argv += ["--port", str(port), "--upstream-port", str(up)]
                rows["floor"] = measure(argv, port, work / "floor.out", a.seconds, None)
            if a.only in (None, "jwtgate"):
                port = free_port()
                cfg = work / "gateway.yaml"
                text = gateway_config(
                    work, port=port, admin_port=free_port(), upstream_port=up, workers=1,
                    cache=True, algorithms=("ES256",),
                )  # fmt: skip
                cfg.write_text(text, encoding="utf-8")
                token = tokens["ES256"].read_text(encoding="utf-8").split("\n", 1)[0]
                argv = [PY, "-m", "jwtgate.gateway", "--config", str(cfg)]
                header = f"Authorization: Bearer {token}"
                rows["jwtgate"] = measure(argv, port, work / "gw.out", a.seconds, header)
                if a.distinct:
                    lua = work / "distinct.lua"
                    lua.write_text(DISTINCT_REQUESTS_LUA, encoding="utf-8")
                    rows["jwtgate-distinct"] = measure(
                        argv, port, work / "gwd.out", a.seconds, None,
                        script=lua, script_args=(token,),
                    )  # fmt: skip
        finally:
            stop_process(nginx)
    if a.json:
        print(json.dumps({k: round(v) for k, v in rows.items()}))
    else:
        for name, value in rows.items():
            print(f"{name:16s} {value / 1000:8.1f}k instructions per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
