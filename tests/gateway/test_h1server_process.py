"""Both HTTP servers as a real gateway process: TLS with HSTS, SIGHUP reload, SIGTERM drain."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jwtgate.jose import Keyring

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def _spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jwtgate.gateway", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _get(
    http: aiohttp.ClientSession, url: str, ctx: ssl.SSLContext
) -> tuple[int, dict[str, str], Any]:
    async with http.get(url, ssl=ctx) as resp:
        return resp.status, dict(resp.headers), await resp.json()


@pytest.mark.parametrize("server", ["lean", "uvicorn"])
async def test_tls_reload_and_drain_with_either_server(
    tmp_path: Path,
    server: str,
    self_signed_cert: tuple[Path, Path],
    echo_upstream: Any,
    new_port: Any,
) -> None:
    cert, key = self_signed_cert
    Keyring.open(tmp_path / "data", create=True)
    port = new_port()
    tls = {"cert": str(cert), "key": str(key), "hsts": {"max_age": 600}}
    async with echo_upstream() as up:
        route = {"name": "api", "match": {"prefix": "/"}, "upstream": up, "auth": "public"}
        gateway: dict[str, Any] = {
            "http_server": server,
            "listeners": [{"port": port, "tls": tls}],
            "admin_listener": None,
            "access_log": False,
            "drain_seconds": 10,
            "routes": [route],
        }
        config = tmp_path / "gw.yaml"
        doc = {"data_dir": str(tmp_path / "data"), "gateway": gateway}
        config.write_text(json.dumps(doc))
        log = tmp_path / "gw.log"
        proc = _spawn(config, log)
        base = f"https://localhost:{port}"
        ctx = ssl.create_default_context(cafile=str(cert))
        try:
            async with aiohttp.ClientSession() as http:
                deadline = time.monotonic() + 30
                while True:
                    assert proc.poll() is None, log.read_text()
                    with contextlib.suppress(aiohttp.ClientError):
                        if (await _get(http, f"{base}/readyz", ctx))[0] == 200:
                            break
                    assert time.monotonic() < deadline, log.read_text()
                    await asyncio.sleep(0.05)
                status, headers, body = await _get(http, f"{base}/api/x?y=1", ctx)
                # SIGHUP: the new file adds a route; the running process picks it up.
                extra = {"name": "new", "match": {"path": "/new"}, "upstream": up, "auth": "public"}
                gateway["routes"] = [extra, route]
                config.write_text(json.dumps(doc))
                proc.send_signal(signal.SIGHUP)
                for _ in range(100):
                    if "configuration reloaded" in log.read_text():
                        break
                    await asyncio.sleep(0.05)
                # SIGTERM while a request is in flight: it completes, then the process exits.
                inflight = asyncio.create_task(_get(http, f"{base}/slow", ctx))
                await asyncio.sleep(0.3)
                proc.send_signal(signal.SIGTERM)
                slow_status, _, slow_body = await inflight
            code = await asyncio.to_thread(proc.wait, 20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert status == 200
    assert headers.get("Strict-Transport-Security") == "max-age=600"
    assert "Date" in headers
    assert body["path"] == "/api/x?y=1"
    assert ["x-forwarded-proto", "https"] in body["headers"]
    assert "configuration reloaded" in log.read_text()
    assert (slow_status, slow_body["path"]) == (200, "/slow")
    assert code == 0
