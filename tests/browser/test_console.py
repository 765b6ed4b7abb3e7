"""The browser console in real headless Chromium against a real ``jwtgate demo`` process.

Debian's Chromium at /usr/bin/chromium is driven by Playwright; no browser is
ever downloaded. Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
_READY = re.compile(r"jwtgate demo ready on (http://\S+)/")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is missing (scripts/ensure-chromium.sh installs it)",
    ),
]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running demo on a free port with its own data directory."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data_dir = tmp_path_factory.mktemp("browser-demo")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jwtgate", "demo", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    base = None
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline and base is None:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if m := _READY.search(line):
            base = m.group(1)
    try:
        assert base is not None, "demo did not start:\n" + "".join(seen)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()


def _login(page: Any, base: str, username: str, password: str, *, memory: bool = False) -> None:
    from playwright.sync_api import expect

    page.goto(base + "/")
    if memory:
        page.check("#memory-mode")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-btn")
    expect(page.locator("#who")).to_have_text(username)


def _call(page: Any, button: str, status: str) -> None:
    from playwright.sync_api import expect

    page.locator("#api-status").evaluate("el => { el.textContent = '-'; }")
    page.click(button)
    expect(page.locator("#api-status")).to_have_text(status)


def test_alice_admin_200_cookies_csrf_and_logout_401(browser: Any, demo_url: str) -> None:
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context()
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    try:
        _login(page, demo_url, "alice", "alice-in-wonderland")
        expect(page.locator("#roles")).to_have_text("admin, user")
        expect(page.locator("#claims-label")).to_contain_text("HttpOnly cookie")
        expect(page.locator("#claims")).to_contain_text('"sub": "alice"')
        _call(page, "#btn-admin", "200")
        expect(page.locator("#api-body")).to_contain_text("x-user-roles")
        _call(page, "#btn-public", "200")
        # An unsafe method authenticated by cookie passes only with X-CSRF-Token,
        # which the console sends (double submit bound to the token's csrf claim).
        _call(page, "#btn-echo-post", "200")
        expect(page.locator("#api-body")).to_contain_text("x-csrf-token")
        expect(page.locator("#active-kid")).not_to_have_text("-")
        expect(page.locator("#audit-status")).to_contain_text("recent events", timeout=10_000)

        cookies = {c["name"]: c for c in context.cookies()}
        # Plain-HTTP demo: no __Host- prefix and no Secure (documented relaxation);
        # HttpOnly and SameSite=Strict stay on (issue 3, cookie mode).
        assert set(cookies) == {"jwtgate-access", "jwtgate-refresh", "jwtgate-csrf"}
        for name in ("jwtgate-access", "jwtgate-refresh"):
            assert cookies[name]["httpOnly"] is True, name
        for cookie in cookies.values():
            assert cookie["sameSite"] == "Strict", cookie["name"]
            assert cookie["secure"] is False, cookie["name"]
            assert cookie["path"] == "/", cookie["name"]
        # The CSRF token must be readable by the page (that is the double submit).
        assert cookies["jwtgate-csrf"]["httpOnly"] is False

        # Tokens never in Web Storage or the URL.
        storage = page.evaluate("() => [localStorage.length, sessionStorage.length]")
        assert storage == [0, 0]
        assert "eyJ" not in page.url

        # Without the CSRF header, the same cookie-authenticated POST is refused.
        forged = context.request.post(demo_url + "/api/echo/forged", data="x")
        assert forged.status == 403

        page.click("#btn-refresh")
        expect(page.locator("#message")).to_have_text("refreshed")
        # A reload keeps the cookie session; the page asks /auth/me who is signed in.
        page.reload()
        expect(page.locator("#who")).to_have_text("alice")
        page.screenshot(path=str(SCREENSHOTS / "console-alice.png"), full_page=True)

        page.click("#btn-logout")
        expect(page.locator("#message")).to_have_text("logout: 200")
        _call(page, "#btn-echo", "401")
        expect(page.locator("#api-www")).to_contain_text('Bearer realm="jwtgate"')
        page.screenshot(path=str(SCREENSHOTS / "console-after-logout.png"), full_page=True)
        assert page_errors == []
    finally:
        context.close()


def test_bob_is_refused_at_admin_with_403(browser: Any, demo_url: str) -> None:
    """Bob in memory mode: the access token lives in a JS variable and goes out as Bearer."""
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context()
    page = context.new_page()
    try:
        _login(page, demo_url, "bob", "bob-the-builder", memory=True)
        expect(page.locator("#claims-label")).to_have_text("decoded, not verified (client-side)")
        expect(page.locator("#claims")).to_contain_text('"typ": "at+jwt"')  # header shown too
        expect(page.locator("#roles")).to_have_text("user")
        # Only the refresh and CSRF cookies: the access token never became a cookie.
        assert {c["name"] for c in context.cookies()} == {"jwtgate-refresh", "jwtgate-csrf"}
        assert page.evaluate("() => [localStorage.length, sessionStorage.length]") == [0, 0]
        _call(page, "#btn-echo", "200")
        _call(page, "#btn-admin", "403")
        expect(page.locator("#api-www")).to_contain_text('error="insufficient_scope"')
        expect(page.locator("#audit-status")).to_contain_text("403", timeout=10_000)
        page.screenshot(path=str(SCREENSHOTS / "console-bob-403.png"), full_page=True)

        page.click("#btn-refresh")
        expect(page.locator("#message")).to_have_text("refreshed")
        _call(page, "#btn-echo", "200")

        page.click("#btn-logout-all")
        expect(page.locator("#message")).to_have_text("logout everywhere: 200")
        # The page still holds the old token in memory; the gateway now refuses it.
        _call(page, "#btn-echo", "401")
        expect(page.locator("#api-www")).to_contain_text('error="invalid_token"')
    finally:
        context.close()


def test_console_headers_and_wrong_password(browser: Any, demo_url: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    try:
        response = page.goto(demo_url + "/")
        assert response is not None
        headers = response.headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        page.fill("#username", "bob")
        page.fill("#password", "not-his-password")
        page.click("#login-btn")
        expect(page.locator("#message")).to_contain_text("login failed (401)")
        expect(page.locator("#who")).to_have_text("nobody")
        assert context.cookies() == []
    finally:
        context.close()
