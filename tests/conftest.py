"""Fixtures shared by the whole suite: the real PostgreSQL and Redis, free ports."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PG_ADMIN_DSN = os.environ.get("JWTGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("JWTGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def new_port() -> Callable[[], int]:
    """``new_port()`` -> a loopback port free right now (for tests needing several)."""
    return free_port


@pytest.fixture
def unused_port() -> int:
    """A free loopback port."""
    return free_port()


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database on the real server; dropped afterwards.

    Yields an SQLAlchemy async URL (``postgresql+asyncpg://...``).
    """
    import asyncpg

    name = f"jwtgate_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def redis_url() -> str:
    """The real Redis server; tests namespace their keys with :func:`redis_prefix`."""
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    """A unique key/channel prefix so concurrent tests never share Redis state."""
    return f"jwtgate-test-{secrets.token_hex(6)}:"


@pytest.fixture
def self_signed_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh self-signed ECDSA certificate for ``localhost``: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


_DEMO_READY = re.compile(r"jwtgate demo ready on (http://127\.0\.0\.1:(\d+))/")


@contextlib.contextmanager
def _demo_process(data_dir: Path) -> Iterator[tuple[int, str]]:
    """Run ``jwtgate demo`` on a free port until the block ends; yields (port, base URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jwtgate", "demo", "--port", str(free_port()),
         "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        match = None
        deadline = time.monotonic() + 60
        while match is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = _DEMO_READY.search(line)
        assert match is not None, "the demo did not become ready"
        yield int(match.group(2)), match.group(1)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the demo's own clean shutdown
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.fixture(scope="session")
def demo_process() -> Callable[[Path], contextlib.AbstractContextManager[tuple[int, str]]]:
    """``with demo_process(data_dir) as (port, base_url):`` a real demo on loopback."""
    return _demo_process


async def _loopback_echo(request: Any) -> Any:
    from aiohttp import web

    if request.path.startswith("/slow"):
        await asyncio.sleep(float(request.query.get("s", "1")))
    return web.json_response(
        {"path": request.raw_path, "headers": [[k.lower(), v] for k, v in request.headers.items()]}
    )


@contextlib.asynccontextmanager
async def _echo_upstream(routes: dict[str, Any] | None = None) -> AsyncIterator[str]:
    from aiohttp import web

    app = web.Application()
    for path, handler in (routes or {}).items():
        app.router.add_get(path, handler)
    app.router.add_route("*", "/{tail:.*}", _loopback_echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture(scope="session")
def echo_upstream() -> Callable[..., contextlib.AbstractAsyncContextManager[str]]:
    """``async with echo_upstream(routes=None) as url:`` an HTTP upstream on loopback.

    It answers JSON ``{"path", "headers"}`` for any request (``/slow?s=N``
    waits N seconds first); ``routes`` adds GET handlers, e.g. a JWKS.
    """
    return _echo_upstream
