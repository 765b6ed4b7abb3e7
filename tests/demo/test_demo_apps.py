"""The echo upstream and the console as ASGI applications (no network)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from jwtgate.demo import CONSOLE_CSP, ConsoleApp, EchoUpstream
from jwtgate.demo.console import KEYS_PATH

STATIC = Path(__file__).resolve().parents[2] / "src" / "jwtgate" / "demo" / "static"


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo")  # type: ignore[arg-type]


async def test_echo_reports_exactly_what_it_received() -> None:
    echo = EchoUpstream()
    await echo.start()
    async with _client(echo.app) as client:
        response = await client.post(
            "/api/echo/a%20b?x=1&x=2",
            content=b"12345",
            headers=[("X-Dup", "one"), ("X-Dup", "two"), ("X-User-Id", "u")],
        )
    await echo.close()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert data["method"] == "POST"
    assert data["path"] == "/api/echo/a b"
    assert data["query"] == "x=1&x=2"
    assert data["body_bytes"] == 5
    # Repeated headers keep their order, as pairs.
    assert [v for k, v in data["headers"] if k == "x-dup"] == ["one", "two"]
    assert ["x-user-id", "u"] in data["headers"]


@pytest.mark.parametrize("path", ["/", "/index.html", "/console.js", "/console.css"])
async def test_console_serves_files_with_strict_headers(path: str) -> None:
    async with _client(ConsoleApp().app) as client:
        response = await client.get(path)
    assert response.status_code == 200
    # CSP Level 3: only same-origin scripts, no inline script, no framing.
    assert response.headers["content-security-policy"] == CONSOLE_CSP
    assert "default-src 'self'" in CONSOLE_CSP
    assert "unsafe-inline" not in CONSOLE_CSP
    assert "unsafe-eval" not in CONSOLE_CSP
    assert "frame-ancestors 'none'" in CONSOLE_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/../pyproject.toml", 404),  # path traversal finds nothing to serve
        ("GET", "/static/console.js", 404),
        ("GET", KEYS_PATH, 404),  # only with a keyring
        ("POST", "/", 405),
        ("DELETE", "/console.js", 405),
    ],
)
async def test_console_refuses_everything_else(method: str, path: str, status: int) -> None:
    async with _client(ConsoleApp().app) as client:
        response = await client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-security-policy"] == CONSOLE_CSP


async def test_console_key_metadata(tmp_path: Path) -> None:
    from jwtgate.jose import Keyring

    keyring = Keyring.open(tmp_path, create=True)
    async with _client(ConsoleApp(keyring).app) as client:
        data = (await client.get(KEYS_PATH)).json()
    assert data["active_kid"] == keyring.active.kid
    assert data["keys"][0]["state"] == "active"
    assert set(data["keys"][0]) == {"kid", "alg", "state", "created_at", "verify_until"}


def test_static_files_need_no_network_and_keep_tokens_out_of_storage() -> None:
    html = (STATIC / "index.html").read_text()
    js_full = (STATIC / "console.js").read_text()
    # Code only: the header comment explains the storage rules in words.
    js = "\n".join(line for line in js_full.splitlines() if not line.strip().startswith("//"))
    css = (STATIC / "console.css").read_text()
    # No CDN or any other origin (issue 4: works without external CDNs).
    for text in (html, js_full, css):
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I)
    # No inline script or inline event handlers (the CSP would block them anyway).
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="/console.js" defer>']
    assert not re.search(r"\son[a-z]+\s*=", html, re.I)
    # Tokens never go to Web Storage; network text never goes to innerHTML.
    assert "localStorage" not in js
    assert "sessionStorage" not in js
    assert "innerHTML" not in js
    assert "X-CSRF-Token" in js
