"""What ``jwtgate demo`` prints at start: URLs, demo users and a ready-to-paste curl flow.

The curl flow is data first (:func:`curl_flow`) and text second, so the
integration test runs exactly the lines a user would paste.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from jwtgate.demo.settings import DEMO_USERS

__all__ = ["FlowLine", "banner", "curl_flow", "ready_line"]

_EXTRACT = "import json,sys; print(json.load(sys.stdin)[{field!r}])"


@dataclass(frozen=True, slots=True)
class FlowLine:
    """One line of the curl flow: a comment, a shell assignment or a curl command."""

    text: str
    expect: int | None = None


def _extract(var: str, source: str, field: str) -> str:
    # python3 is always there (jwtgate needs it); jq often is not.
    code = _EXTRACT.format(field=field).replace("'", '"')
    return f"{var}=$(printf '%s' \"${source}\" | python3 -c '{code}')"


def _login(var: str, base: str, username: str, password: str) -> str:
    body = f'{{"username": "{username}", "password": "{password}"}}'
    return (
        f"{var}=$(curl -s -X POST {base}/auth/login "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)})"
    )


def curl_flow(base: str) -> list[FlowLine]:
    """The seed flow as shell lines: login, call, refused, refresh, logout, refused again."""
    bob, alice = DEMO_USERS[1], DEMO_USERS[0]
    auth = '-H "Authorization: Bearer $TOKEN"'
    return [
        FlowLine("# 1. log in as bob (role user); keep his tokens in shell variables"),
        FlowLine(_login("BOB", base, bob.username, bob.password)),
        FlowLine(_extract("TOKEN", "BOB", "access_token")),
        FlowLine(_extract("REFRESH", "BOB", "refresh_token")),
        FlowLine("# 2. call the echo upstream through the gateway (expect 200; see X-User-*)"),
        FlowLine(f"curl -s -i {base}/api/echo/hello {auth}", 200),
        FlowLine("# 3. bob is refused at /api/admin (expect 403 insufficient_scope)"),
        FlowLine(f"curl -s -i {base}/api/admin/area {auth}", 403),
        FlowLine("# 4. alice has the admin role (expect 200)"),
        FlowLine(_login("ALICE", base, alice.username, alice.password)),
        FlowLine(_extract("ALICE_TOKEN", "ALICE", "access_token")),
        FlowLine(f'curl -s -i {base}/api/admin/area -H "Authorization: Bearer $ALICE_TOKEN"', 200),
        FlowLine("# 5. refresh: new access + refresh token; the old refresh token is spent"),
        FlowLine(
            f"NEW=$(curl -s -X POST {base}/auth/token -d grant_type=refresh_token "
            '-d "refresh_token=$REFRESH")'
        ),
        FlowLine(_extract("TOKEN", "NEW", "access_token")),
        FlowLine(f"curl -s -i {base}/api/echo/hello {auth}", 200),
        FlowLine("# 6. log out: revokes this access token and its refresh family"),
        FlowLine(f"curl -s -i -X POST {base}/auth/logout {auth}", 200),
        FlowLine("# 7. the same token is now refused (expect 401 invalid_token)"),
        FlowLine(f"curl -s -i {base}/api/echo/hello {auth}", 401),
    ]


def banner(base: str, data_dir: Path, config_path: Path, *, first_start: bool) -> list[str]:
    """The lines printed once the demo is listening."""
    width = max(len(u.username) for u in DEMO_USERS)
    users = [
        f"  {u.username.ljust(width)} / {u.password:<22} roles: {', '.join(u.roles)}"
        for u in DEMO_USERS
    ]
    state = "created at this first start" if first_start else "reused from an earlier start"
    lines = [
        "jwtgate demo: DEMO ONLY (plain HTTP on loopback, relaxed Secure cookies, "
        "public passwords)",
        "",
        f"  console      {base}/",
        f"  auth server  {base}/auth   (JWKS {base}/auth/.well-known/jwks.json)",
        f"  echo API     {base}/api/echo   admin API {base}/api/admin   public {base}/api/public",
        f"  health       {base}/healthz",
        f"  data dir     {data_dir}   (keys, users: {state})",
        f"  config       {config_path}   (use with: jwtgate --config {config_path} ...)",
        "",
        "DEMO-ONLY users (these passwords are public; never use them elsewhere):",
        *users,
        "",
        "Try the flow with curl (paste line by line into a POSIX shell):",
        "",
        *(f"  {line.text}" for line in curl_flow(base)),
        "",
    ]
    return lines


def ready_line(base: str) -> str:
    """The last line printed at start; tests wait for it."""
    return f"jwtgate demo ready on {base}/  (Ctrl-C to stop)"
