"""The gateway bypass vectors against a running ``jwtgate demo`` process, over raw sockets.

bob holds the ``user`` role only, so ``/api/admin/...`` must answer 403 to
him; each alternative spelling must be refused too (400/403/404), never be
forwarded as a public request. Spoofed identity headers in ``_`` spellings
must not reach the echo upstream.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def _request(port: int, head: str, body: bytes = b"") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head.encode("latin-1") + b"Connection: close\r\n\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, demo_process: Any) -> Iterator[tuple[int, str]]:
    """A demo process of this module's own, and bob's access token."""
    with demo_process(tmp_path_factory.mktemp("demo")) as (port, _):
        login = json.dumps({"username": "bob", "password": "bob-the-builder"}).encode()
        status, body = _request(
            port,
            "POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(login)}\r\n",
            login,
        )
        assert status == 200
        yield port, json.loads(body)["access_token"]


# (vector id / source, request target as sent on the wire)
ADMIN_SPELLINGS: list[tuple[str, str]] = [
    ("baseline", "/api/admin/area"),
    ("CVE-2020-1957 '..;' from the public corner", "/api/public/..;/admin/area"),
    ("CVE-2020-1957 '..;' percent-encoded", "/api/public/%2e%2e;/admin/area"),
    ("RFC3986-3.3 ;param on the admin segment", "/api/admin;x/area"),
    ("CVE-2019-9901 double slash", "/api//admin/area"),
    ("CVE-2016-5007 upper-case API", "/API/admin/area"),
    ("CVE-2016-5007 upper-case ADMIN", "/api/ADMIN/area"),
    ("RFC3986-2.1 %61dmin", "/api/%61dmin/area"),
    ("RFC3986-2.1 %2F between api and admin", "/api%2Fadmin/area"),
    ("RFC3986-5.2.4 dot segment from echo", "/api/echo/../admin/area"),
    ("RFC3986-5.2.4 %2e%2e from the public corner", "/api/public/%2e%2e/admin/area"),
    ("RFC3986-5.2.4 %2F..%2F", "/api/public%2F..%2Fadmin/area"),
    ("RFC9112-3.2.2 absolute form", "http://127.0.0.1/api/admin/area"),
]


@pytest.mark.parametrize(("vector", "target"), ADMIN_SPELLINGS, ids=[v[0] for v in ADMIN_SPELLINGS])
def test_admin_area_cannot_be_reached_by_another_spelling(
    demo: tuple[int, str], vector: str, target: str
) -> None:
    port, token = demo
    status, _ = _request(
        port, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
    )
    assert status in (400, 403, 404), f"{vector}: {status}"


# (vector id / source, a forged header line)
SPOOFS: list[tuple[str, str]] = [
    ("issue-5 X-User-Id", "X-User-Id: mallory"),
    ("RFC3875-4.1.18 X_User_Id", "X_User_Id: mallory"),
    ("RFC3875-4.1.18 x_user_roles", "x_user_roles: admin"),
    ("RFC3875-4.1.18 X-Auth_Roles", "X-Auth_Roles: admin"),
    ("RFC3875-4.1.18 X_Forwarded_For", "X_Forwarded_For: 10.0.0.1"),
    ("RFC9110-7.6.1 Connection names X-User-Id", "Connection: X-User-Id\r\nX-User-Id: mallory"),
]


@pytest.mark.parametrize(("vector", "line"), SPOOFS, ids=[v[0] for v in SPOOFS])
def test_spoofed_identity_never_reaches_the_upstream(
    demo: tuple[int, str], vector: str, line: str
) -> None:
    port, token = demo
    status, body = _request(
        port,
        "GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n{line}\r\n",
    )
    assert status == 200
    seen = json.loads(body)["headers"]
    forged = [v for n, v in seen if n.replace("_", "-").startswith(("x-user-", "x-auth-"))]
    assert "mallory" not in forged
    assert "admin" not in forged
    assert [v for n, v in seen if n == "x-user-id"] == ["bob"]
    assert not any("_" in n for n, _ in seen)


# (vector id / source, header lines that must not parse as an identity header)
MALFORMED: list[tuple[str, str]] = [
    ("RFC9112-5.1 whitespace before the colon", "X-User-Id : mallory"),
    ("RFC9112-5.1 tab before the colon", "X-User-Id\t: mallory"),
    ("RFC9112-2.2 leading whitespace (obs-fold of the previous line)", " X-User-Id: mallory"),
    ("RFC9112-5.2 obs-fold continuation", "X-Foo: a\r\n X-User-Id: mallory"),
]


@pytest.mark.parametrize(("vector", "line"), MALFORMED, ids=[v[0] for v in MALFORMED])
def test_malformed_identity_header_lines_are_refused(
    demo: tuple[int, str], vector: str, line: str
) -> None:
    port, token = demo
    status, _ = _request(
        port,
        "GET /api/echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n{line}\r\n",
    )
    assert status == 400


@pytest.mark.parametrize("method", ["get", "Post", "dElEtE"])
def test_methods_in_another_case_are_refused(demo: tuple[int, str], method: str) -> None:
    """RFC 9110 section 9.1: methods are case-sensitive; no route or CSRF rule sees them."""
    port, _ = demo
    status, _ = _request(port, f"{method} /api/public/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert status == 400
