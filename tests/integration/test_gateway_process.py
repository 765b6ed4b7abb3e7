"""The gateway as a real process: TLS, SIGHUP reload, SIGTERM drain, workers, JWKS rotation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from jwtgate.jose import AccessTokenMinter, Keyring

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

ISSUER = "http://127.0.0.1:8080/auth"


class _Gateway:
    def __init__(self, proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.proc, self.base, self.log = proc, base, log

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def _write_config(path: Path, data_dir: Path, gateway: dict[str, Any], **extra: Any) -> None:
    doc = {"data_dir": str(data_dir), "gateway": {"access_log": False, **gateway}, **extra}
    path.write_text(yaml.safe_dump(doc))


@contextlib.contextmanager
def _spawn(config: Path, base: str, tmp: Path) -> Iterator[_Gateway]:
    log = tmp / f"gateway-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jwtgate.gateway", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    gw = _Gateway(proc, base, log)
    try:
        yield gw
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(10)


async def _wait_ready(gw: _Gateway, ssl_ctx: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if gw.proc.poll() is not None:
                raise AssertionError(f"gateway exited: {gw.logs()}")
            try:
                async with http.get(f"{gw.base}/readyz", ssl=ssl_ctx or False) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"gateway not ready: {gw.logs()}")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    Keyring.open(tmp_path / "data", create=True)
    return tmp_path / "data"


def _mint(data_dir: Path, sub: str = "alice", **kw: Any) -> str:
    minter = AccessTokenMinter(Keyring.open(data_dir), issuer=ISSUER, audience="jwtgate")
    return minter.mint(sub, **kw).token


async def test_tls_listener_with_hsts_and_minimum_version(
    tmp_path: Path,
    data_dir: Path,
    self_signed_cert: tuple[Path, Path],
    echo_upstream: Any,
    new_port: Any,
) -> None:
    cert, key = self_signed_cert
    port = new_port()
    async with echo_upstream() as up:
        tls = {"cert": str(cert), "key": str(key), "min_version": "1.3", "hsts": {"max_age": 600}}
        route = {"name": "api", "match": {"prefix": "/api"}, "upstream": up}
        config = tmp_path / "gw.yaml"
        gateway = {"listeners": [{"port": port, "tls": tls}], "admin_listener": None}
        _write_config(config, data_dir, {**gateway, "routes": [route]})
        with _spawn(config, f"https://localhost:{port}", tmp_path) as gw:
            client = ssl.create_default_context(cafile=str(cert))
            await _wait_ready(gw, client)
            async with aiohttp.ClientSession() as http:
                headers = {"Authorization": f"Bearer {_mint(data_dir)}"}
                async with http.get(f"{gw.base}/api/x", headers=headers, ssl=client) as resp:
                    body = await resp.json()
                    status, hsts = resp.status, resp.headers.get("Strict-Transport-Security")
                old = ssl.create_default_context(cafile=str(cert))
                old.maximum_version = ssl.TLSVersion.TLSv1_2
                with pytest.raises(aiohttp.ClientError):
                    async with http.get(f"{gw.base}/healthz", ssl=old):
                        pass
    assert status == 200
    assert hsts == "max-age=600"
    assert ["x-forwarded-proto", "https"] in body["headers"]


async def test_sighup_reload_good_then_bad_file(
    tmp_path: Path, data_dir: Path, echo_upstream: Any, new_port: Any
) -> None:
    port = new_port()
    async with echo_upstream() as up:
        config = tmp_path / "gw.yaml"
        admin_only = {"roles": {"any_of": ["admin"]}}
        route = {"name": "api", "match": {"prefix": "/api"}, "upstream": up, "require": admin_only}
        base = {"listeners": [{"port": port}], "admin_listener": None}
        _write_config(config, data_dir, {**base, "routes": [route]})
        token = {"Authorization": f"Bearer {_mint(data_dir, roles=['user'])}"}
        with _spawn(config, f"http://127.0.0.1:{port}", tmp_path) as gw:
            await _wait_ready(gw)
            async with aiohttp.ClientSession() as http:

                async def status() -> int:
                    async with http.get(f"{gw.base}/api/x", headers=token) as resp:
                        return resp.status

                before = await status()
                route["require"] = {"roles": {"any_of": ["user"]}}
                _write_config(config, data_dir, {**base, "routes": [route]})
                gw.proc.send_signal(signal.SIGHUP)
                after = before
                for _ in range(100):
                    after = await status()
                    if after == 200:
                        break
                    await asyncio.sleep(0.05)
                config.write_text("gateway: {routes: [{name: broken}]}\n")
                gw.proc.send_signal(signal.SIGHUP)
                for _ in range(100):
                    if "reload rejected" in gw.logs():
                        break
                    await asyncio.sleep(0.05)
                still = await status()
    assert (before, after, still) == (403, 200, 200)
    assert "gateway.routes[0].match" in gw.logs()


async def test_sigterm_drains_inflight_request(
    tmp_path: Path, data_dir: Path, echo_upstream: Any, new_port: Any
) -> None:
    port = new_port()
    async with echo_upstream() as up:
        config = tmp_path / "gw.yaml"
        route = {"name": "api", "match": {"prefix": "/"}, "upstream": up, "auth": "public"}
        gateway = {"listeners": [{"port": port}], "admin_listener": None, "drain_seconds": 10}
        _write_config(config, data_dir, {**gateway, "routes": [route]})
        with _spawn(config, f"http://127.0.0.1:{port}", tmp_path) as gw:
            await _wait_ready(gw)
            async with aiohttp.ClientSession() as http:

                async def slow() -> tuple[int, Any]:
                    async with http.get(f"{gw.base}/slow?s=1.5") as resp:
                        return resp.status, await resp.json()

                inflight = asyncio.create_task(slow())
                await asyncio.sleep(0.4)
                gw.proc.send_signal(signal.SIGTERM)
                status, body = await inflight
            code = await asyncio.to_thread(gw.proc.wait, 20)
    assert status == 200
    assert body["path"] == "/slow?s=1.5"
    assert code == 0


async def test_two_workers_share_listeners_and_metrics(
    tmp_path: Path, data_dir: Path, echo_upstream: Any, new_port: Any
) -> None:
    port, admin = new_port(), new_port()
    async with echo_upstream() as up:
        config = tmp_path / "gw.yaml"
        route = {"name": "api", "match": {"prefix": "/api"}, "upstream": up}
        gateway = {
            "listeners": [{"port": port}],
            "admin_listener": {"port": admin},
            "workers": 2,
            "metrics": True,
        }
        _write_config(config, data_dir, {**gateway, "routes": [route]})
        env_token = {"Authorization": f"Bearer {_mint(data_dir)}"}
        with _spawn(config, f"http://127.0.0.1:{port}", tmp_path) as gw:
            await _wait_ready(gw)
            async with aiohttp.ClientSession() as http:
                statuses = []
                for _ in range(20):
                    async with http.get(f"{gw.base}/api/x", headers=env_token) as resp:
                        statuses.append(resp.status)
                # Connections opened together: each worker must take a share
                # (a request id starts with its worker's random prefix).
                fresh = aiohttp.TCPConnector(force_close=True, limit=0)
                async with aiohttp.ClientSession(connector=fresh) as burst:

                    async def worker_of() -> str:
                        async with burst.get(f"{gw.base}/api/x", headers=env_token) as resp:
                            seen = dict((await resp.json())["headers"])
                            return str(seen["x-request-id"])[:10]

                    prefixes = await asyncio.gather(*(worker_of() for _ in range(32)))
                # Each worker hands its tallies to the shared files at most
                # 0.25 s after its requests: poll the scrape briefly.
                want = 'jwtgate_requests_total{route="api",status="200"} 52.0'
                deadline = time.monotonic() + 5
                while True:
                    async with http.get(f"http://127.0.0.1:{admin}/metrics") as resp:
                        metrics = await resp.text()
                    if want in metrics or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                async with http.get(f"http://127.0.0.1:{admin}/api/x") as resp:
                    admin_api = resp.status
                # SIGHUP to the parent reloads every worker: soon no request gets through.
                route["require"] = {"roles": {"any_of": ["admin"]}}
                _write_config(config, data_dir, {**gateway, "routes": [route]})
                gw.proc.send_signal(signal.SIGHUP)
                streak, deadline = 0, time.monotonic() + 20
                while streak < 20 and time.monotonic() < deadline:
                    async with http.get(f"{gw.base}/api/x", headers=env_token) as resp:
                        streak = streak + 1 if resp.status == 403 else 0
                    await asyncio.sleep(0.01)
            children = await _children(gw)
            gw.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(gw.proc.wait, 20)
    assert statuses == [200] * 20
    assert len(children) == 2
    assert len(set(prefixes)) == 2, prefixes
    assert want in metrics
    # Admitted tokens are counted with their requests, in the same hand-over.
    assert 'jwtgate_auth_total{code="ok",outcome="allowed"} 52.0' in metrics
    assert admin_api == 404  # the admin listener never proxies
    assert streak == 20
    assert code == 0


async def _children(gw: _Gateway) -> list[int]:
    """The worker pids of the gateway's parent process."""
    path = Path(f"/proc/{gw.proc.pid}/task/{gw.proc.pid}/children")
    return [int(c) for c in (await asyncio.to_thread(path.read_text)).split()]


def _two_workers(tmp_path: Path, data_dir: Path, upstream: str, port: int, admin: int) -> Path:
    """A two-worker gateway configuration with one route, ``/api`` to ``upstream``."""
    config = tmp_path / "gw.yaml"
    route = {"name": "api", "match": {"prefix": "/api"}, "upstream": upstream}
    gateway = {
        "listeners": [{"port": port}],
        "admin_listener": {"port": admin},
        "workers": 2,
        "routes": [route],
    }
    _write_config(config, data_dir, gateway)
    return config


async def test_a_dead_workers_share_of_connections_goes_to_the_others(
    tmp_path: Path, data_dir: Path, echo_upstream: Any, new_port: Any
) -> None:
    # Each worker has its own SO_REUSEPORT socket. Only that worker may hold
    # it: a copy left open in the parent or a sibling would keep it in the
    # group, and the kernel would keep queueing connections nobody accepts.
    port = new_port()
    async with echo_upstream() as up:
        config = _two_workers(tmp_path, data_dir, up, port, new_port())
        token = {"Authorization": f"Bearer {_mint(data_dir)}"}
        with _spawn(config, f"http://127.0.0.1:{port}", tmp_path) as gw:
            await _wait_ready(gw)
            children = await _children(gw)
            os.kill(children[0], signal.SIGKILL)
            await asyncio.sleep(0.3)
            fresh = aiohttp.TCPConnector(force_close=True, limit=0)
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(connector=fresh, timeout=timeout) as http:

                async def status() -> int:
                    async with http.get(f"{gw.base}/api/x", headers=token) as resp:
                        return resp.status

                statuses = await asyncio.gather(*(status() for _ in range(24)))
            gw.proc.send_signal(signal.SIGTERM)  # the surviving worker drains and exits
            code = await asyncio.to_thread(gw.proc.wait, 20)
    assert len(children) == 2
    assert statuses == [200] * 24
    assert code != 0  # the parent reports the worker that was killed


async def test_workers_exit_when_the_parent_is_killed(
    tmp_path: Path, data_dir: Path, echo_upstream: Any, new_port: Any
) -> None:
    # A parent killed outright cannot forward SIGTERM; the kernel sends it
    # to the workers instead (PR_SET_PDEATHSIG), so none keeps the port.
    port = new_port()
    async with echo_upstream() as up:
        config = _two_workers(tmp_path, data_dir, up, port, new_port())
        with _spawn(config, f"http://127.0.0.1:{port}", tmp_path) as gw:
            await _wait_ready(gw)
            children = await _children(gw)
            gw.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(gw.proc.wait, 10)
            deadline = time.monotonic() + 15
            alive = children
            while alive and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                alive = [c for c in children if _running(c)]
    assert len(children) == 2
    assert alive == []
    free = socket.socket()
    try:
        free.bind(("127.0.0.1", port))  # nobody holds the port any more
    finally:
        free.close()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent could reap it


async def test_jwks_url_rotation_picked_up_without_failed_request(
    tmp_path: Path, data_dir: Path, echo_upstream: Any, new_port: Any
) -> None:
    ring = Keyring.open(tmp_path / "idp", create=True)
    minter = AccessTokenMinter(ring, issuer="https://idp.example", audience="api")
    fetches = []

    async def jwks(request: web.Request) -> web.Response:
        fetches.append(time.monotonic())
        return web.json_response(ring.jwks())

    port = new_port()
    async with echo_upstream({"/jwks": jwks}) as up:
        config = tmp_path / "gw.yaml"
        issuer = {
            "issuer": "https://idp.example",
            "audiences": ["api"],
            "jwks_url": f"{up}/jwks",
            "jwks_cooldown": 0,
        }
        route = {"name": "api", "match": {"prefix": "/api"}, "upstream": up}
        admin = new_port()
        gateway = {
            "listeners": [{"port": port}],
            "admin_listener": {"port": admin},
            "issuers": [issuer],
        }
        _write_config(config, data_dir, {**gateway, "routes": [route]})
        with _spawn(config, f"http://127.0.0.1:{port}", tmp_path) as gw:
            await _wait_ready(gw)
            statuses = []
            async with aiohttp.ClientSession() as http:
                for i in range(6):
                    if i == 3:
                        ring.rotate()  # the issuer starts signing with a new kid at once
                    headers = {"Authorization": f"Bearer {minter.mint('a').token}"}
                    async with http.get(f"{gw.base}/api/x", headers=headers) as resp:
                        statuses.append(resp.status)
                async with http.get(f"http://127.0.0.1:{admin}/metrics") as resp:
                    metrics = await resp.text()
    assert statuses == [200] * 6
    assert 'jwtgate_jwks_fetch_total{result="updated"} 2.0' in metrics
    assert len(fetches) >= 2  # the start-up fetch and the refetch for the new kid
    assert json.dumps(ring.jwks()).count('"kid"') == 2


def test_bad_configuration_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("gateway: {routes: [{name: x, match: {prefix: /}, upstream: 'ftp://h'}]}\n")
    result = subprocess.run(
        [sys.executable, "-m", "jwtgate.gateway", "--config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("jwtgate: gateway.routes[0].upstream")
    assert len(result.stderr.strip().splitlines()) == 1
