"""``jwtgate serve`` and ``jwtgate serve auth`` as real processes: start, answer, Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def _interrupt(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, err


_CONFIG = """
data_dir: {data_dir}
tokens: {{issuer: "http://127.0.0.1:{port}/auth", audience: svc}}
gateway:
  listeners: [{{host: 127.0.0.1, port: {port}}}]
  admin_listener: null
  routes:
    - {{name: auth, match: {{prefix: /auth}}, upstream: "internal://auth", auth: public}}
    - {{name: open, match: {{prefix: /open}}, upstream: "internal://echo", auth: public}}
    - {{name: api, match: {{prefix: /api}}, upstream: "internal://echo"}}
"""


def test_serve_gateway_with_components(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "gw.yaml"
    config.write_text(_CONFIG.format(data_dir=tmp_path / "data", port=port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "jwtgate", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_for(f"{base}/healthz", proc).status_code == 200
        echoed = httpx.get(f"{base}/open/hello?a=1", timeout=5).json()
        assert echoed["path"] == "/open/hello"
        assert echoed["query"] == "a=1"
        assert httpx.get(f"{base}/api/x", timeout=5).status_code == 401
        jwks = httpx.get(f"{base}/auth/.well-known/jwks.json", timeout=5).json()
        assert len(jwks["keys"]) == 1  # internal://auth created the keyring
    finally:
        rc, err = _interrupt(proc)
    assert rc == 0, err
    assert "gateway ready on http://127.0.0.1" in err
    assert "Traceback" not in err


def test_serve_auth_alone(tmp_path: Path) -> None:
    port = _free_port()
    data_dir = tmp_path / "data"
    made = subprocess.run(
        [sys.executable, "-m", "jwtgate", "--data-dir", str(data_dir), "keys", "generate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "jwtgate", "serve", "auth", "--data-dir", str(data_dir),
         "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/auth/.well-known/oauth-authorization-server"
        meta = _wait_for(url, proc)
        assert meta.status_code == 200
        assert meta.json()["issuer"] == "http://127.0.0.1:8080/auth"  # tokens.issuer default
    finally:
        rc, err = _interrupt(proc)
    assert rc == 0, err
    assert "Traceback" not in err
