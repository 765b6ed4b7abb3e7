"""The browser console (``internal://console``): three static files and strict headers.

Served with a Content-Security-Policy that allows only same-origin scripts,
styles and fetches and no inline script at all, so even an injected string
in a page could not run (the console shows token claims and echoed headers,
which are attacker-influenced text). ``frame-ancestors 'none'`` stops
clickjacking of the login form.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING

from jwtgate.demo.echo import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from jwtgate.jose import Keyring

__all__ = ["CONSOLE_CSP", "KEYS_PATH", "ConsoleApp"]

KEYS_PATH = "/console/keys.json"
"""Public key metadata for the keys panel: the active kid and every key's state.

In cookie mode the access token is HttpOnly, so the page cannot read the
``kid`` from a token header; this endpoint says which key signs now. It
holds nothing the JWKS does not already publish, except states and dates.
"""

CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""The console's Content-Security-Policy (CSP Level 3)."""

_FILES = {
    "/": ("index.html", b"text/html; charset=utf-8"),
    "/index.html": ("index.html", b"text/html; charset=utf-8"),
    "/console.js": ("console.js", b"text/javascript; charset=utf-8"),
    "/console.css": ("console.css", b"text/css; charset=utf-8"),
}

_SECURITY_HEADERS = [
    (b"content-security-policy", CONSOLE_CSP.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


def _load() -> dict[str, tuple[bytes, bytes]]:
    static = resources.files("jwtgate.demo").joinpath("static")
    return {
        path: (static.joinpath(name).read_bytes(), ctype) for path, (name, ctype) in _FILES.items()
    }


class ConsoleApp:
    """Serves the console's static files from memory (loaded once at construction).

    With a ``keyring`` it also answers :data:`KEYS_PATH`.
    """

    def __init__(self, keyring: Keyring | None = None) -> None:
        self._files = _load()
        self._keyring = keyring
        self.app: ASGIApp = self._asgi

    async def start(self) -> None:
        """Nothing to start."""

    async def close(self) -> None:
        """Nothing to release."""

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        entry = self._files.get(scope["path"])
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed", [(b"allow", b"GET, HEAD")])
            return
        if scope["path"] == KEYS_PATH and self._keyring is not None:
            entry = (self._keys_json(), b"application/json")
        if entry is None:
            await _plain(send, 404, b"not found", [])
            return
        body, ctype = entry
        headers = [
            (b"content-type", ctype),
            (b"content-length", str(len(body)).encode("ascii")),
            *_SECURITY_HEADERS,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    def _keys_json(self) -> bytes:
        keyring = self._keyring
        if keyring is None:  # pragma: no cover - guarded by the caller
            return b"{}"
        # Another process (``jwtgate keys rotate``) may have rotated since.
        keyring.reload_if_changed()
        keys = [
            {
                "kid": i.kid,
                "alg": i.alg,
                "state": str(i.state.value),
                "created_at": i.created_at,
                "verify_until": i.verify_until,
            }
            for i in keyring.infos()
        ]
        return json.dumps({"active_kid": keyring.active.kid, "keys": keys}).encode("utf-8")


async def _plain(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode("ascii")),
        *_SECURITY_HEADERS,
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
