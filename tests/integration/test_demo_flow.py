"""``jwtgate demo`` as a real process: the printed curl flow works, restarts reuse state.

The test reads the curl commands the demo prints and executes exactly those
lines (a small interpreter for the shell subset they use), so the README's
promise "ready-to-paste curl commands" is checked end to end over HTTP.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

_READY = re.compile(r"jwtgate demo ready on (http://\S+)/")
_ASSIGN_CURL = re.compile(r"^(\w+)=\$\((curl .*)\)$")
_ASSIGN_FIELD = re.compile(
    r"""^(\w+)=\$\(printf '%s' "\$(\w+)" \| python3 -c 'import json,sys; """
    r"""print\(json\.load\(sys\.stdin\)\["(\w+)"\]\)'\)$"""
)
_EXPECT = re.compile(r"\(expect (\d{3})")


@dataclass
class Demo:
    """A running demo process and what it printed."""

    proc: subprocess.Popen[str]
    base: str
    lines: list[str] = field(default_factory=list)

    def stop(self) -> int:
        """Ctrl-C, then wait for a clean exit (idempotent)."""
        if self.proc.stdout is None or self.proc.stdout.closed:
            return self.proc.wait()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout=20)
            if self.proc.stdout is not None:
                self.lines.extend(self.proc.stdout.read().splitlines())
            return rc
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()


def start_demo(port: int, data_dir: Path, *extra: str) -> Demo:
    """Start ``python -m jwtgate demo`` and wait for its ready line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jwtgate", "demo", "--port", str(port),
         "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        match = _READY.search(line)
        if match:
            return Demo(proc, match.group(1), lines)
        if line.startswith('{"event": "ready"'):  # --json
            return Demo(proc, json.loads(line)["url"].rstrip("/"), lines)
    proc.kill()
    proc.wait()
    proc.stdout.close()
    raise AssertionError("demo did not become ready:\n" + "\n".join(lines))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo_factory(tmp_path: Path) -> Iterator[list[Demo]]:
    """Demos started by a test; all are stopped afterwards."""
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.stop()
        # Shown by pytest only when the test failed: the demo's own account of it.
        print(f"--- demo {demo.base} output ---", *demo.lines, sep="\n")


def _curl(argv: list[str], client: httpx.Client) -> httpx.Response:
    """Run the curl subset the demo prints: -s -i -X -H -d and a URL."""
    assert argv[0] == "curl"
    method, url, headers, data = None, None, {}, []
    it = iter(argv[1:])
    for arg in it:
        if arg in ("-s", "-i"):
            continue
        if arg == "-X":
            method = next(it)
        elif arg == "-H":
            name, _, value = next(it).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            data.append(next(it))
        elif arg == "-w":
            next(it)
        else:
            assert arg.startswith("http://"), arg
            url = arg
    assert url is not None
    body = "&".join(data) if data else None
    if body is not None and "Content-Type" not in headers:
        headers["Content-Type"] = "application/x-www-form-urlencoded"  # curl's default for -d
    return client.request(method or ("POST" if body else "GET"), url, headers=headers, content=body)


def run_flow(lines: list[str], client: httpx.Client) -> list[tuple[str, int, int]]:
    """Execute the printed flow; returns (command, expected, actual) for checked lines."""
    env: dict[str, str] = {}
    checked: list[tuple[str, int, int]] = []
    expect_next: int | None = None

    def expand(text: str) -> str:
        return re.sub(r"\$(\w+)", lambda m: env[m.group(1)], text)

    for raw in lines:
        line = raw.strip()
        if line.startswith("#"):
            found = _EXPECT.search(line)
            expect_next = int(found.group(1)) if found else None
            continue
        if m := _ASSIGN_FIELD.match(line):
            env[m.group(1)] = json.loads(env[m.group(2)])[m.group(3)]
            continue
        if m := _ASSIGN_CURL.match(line):
            response = _curl([expand(a) for a in shlex.split(m.group(2))], client)
            assert response.status_code == 200, (line, response.text)
            env[m.group(1)] = response.text
            continue
        assert line.startswith("curl "), line
        response = _curl([expand(a) for a in shlex.split(line)], client)
        expected = expect_next if expect_next is not None else 200
        checked.append((line, expected, response.status_code))
        expect_next = None
    return checked


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jwtgate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _flow_lines(demo: Demo) -> list[str]:
    start = next(i for i, t in enumerate(demo.lines) if t.startswith("Try the flow with curl"))
    return [t for t in demo.lines[start + 1 :] if t.strip() and not _READY.search(t)]


def test_printed_curl_flow_runs(demo_factory: list[Demo], tmp_path: Path, unused_port: int) -> None:
    data_dir = tmp_path / "demo"
    demo = start_demo(unused_port, data_dir)
    demo_factory.append(demo)
    text = "\n".join(demo.lines)
    # The banner names the URLs and marks the demo users as DEMO-ONLY.
    assert f"{demo.base}/healthz" in text
    assert "DEMO-ONLY" in text
    assert "alice / alice-in-wonderland" in text
    assert "bob   / bob-the-builder" in text

    with httpx.Client(timeout=10) as client:
        checked = run_flow(_flow_lines(demo), client)
        statuses = [(expected, actual) for _, expected, actual in checked]
        assert statuses == [(200, 200), (403, 403), (200, 200), (200, 200), (200, 200), (401, 401)]

        # What the echo upstream saw: identity headers added, Authorization not forwarded.
        login = client.post(
            f"{demo.base}/auth/login", json={"username": "bob", "password": "bob-the-builder"}
        ).json()
        echoed = client.get(
            f"{demo.base}/api/echo/x?q=1",
            headers={"Authorization": f"Bearer {login['access_token']}", "X-User-Id": "spoof"},
        ).json()
        headers = dict(echoed["headers"])
        assert echoed["method"] == "GET"
        assert echoed["query"] == "q=1"
        assert headers["x-user-id"] == "bob"  # the spoofed value was replaced
        assert "authorization" not in headers
        assert client.get(f"{demo.base}/api/public/x").status_code == 200
        assert client.get(f"{demo.base}/healthz").status_code == 200
        unauth = client.get(f"{demo.base}/api/echo/x")
        assert unauth.status_code == 401
        assert unauth.headers["www-authenticate"].startswith("Bearer")

        # The CLI works on the demo's data: verify with its config, revoke by jti, and
        # the running gateway refuses the token once the auth server polls the store.
        token = login["access_token"]
        config = str(data_dir / "demo.yaml")
        verified = _cli("--config", config, "token", "verify", token, "--json")
        assert verified.returncode == 0, verified.stderr
        jti = json.loads(verified.stdout)["claims"]["jti"]
        revoked = _cli("--config", config, "revoke", f"--jti={jti}")  # a jti may start with "-"
        assert revoked.returncode == 0, revoked.stderr
        auth = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 15
        status = 200
        while status == 200 and time.monotonic() < deadline:
            status = client.get(f"{demo.base}/api/echo/x", headers=auth).status_code
            if status == 200:
                time.sleep(0.2)  # cross-process: the auth server polls the revocation table
        assert status == 401

        # Key rotation from the CLI while the demo runs: new logins get the new kid,
        # tokens signed by the previous key keep working (it is verify-only now).
        old = client.post(
            f"{demo.base}/auth/login", json={"username": "alice", "password": "alice-in-wonderland"}
        ).json()["access_token"]
        rotated = _cli("--config", config, "keys", "rotate", "--json")
        assert rotated.returncode == 0, rotated.stderr
        new_kid = json.loads(rotated.stdout)["active"]
        deadline = time.monotonic() + 15
        kid = None
        while kid != new_kid and time.monotonic() < deadline:
            fresh = client.post(
                f"{demo.base}/auth/login", json={"username": "bob", "password": "bob-the-builder"}
            ).json()["access_token"]
            kid = _kid(fresh)
            if kid != new_kid:
                time.sleep(0.2)  # cross-process: the auth server reloads the keyring
        assert kid == new_kid
        for token in (old, fresh):
            response = client.get(
                f"{demo.base}/api/echo/x", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200
        keys = client.get(f"{demo.base}/console/keys.json").json()
        assert keys["active_kid"] == new_kid
        assert sorted(k["state"] for k in keys["keys"]) == ["active", "verify-only"]

    assert demo.stop() == 0  # Ctrl-C stops cleanly
    assert (data_dir / "demo.yaml").is_file()
    assert (data_dir / ".gitignore").read_text().strip().endswith("*")


def test_restart_reuses_state_and_two_demos_side_by_side(
    demo_factory: list[Demo], tmp_path: Path, unused_port: int
) -> None:
    first_dir, second_dir = tmp_path / "one", tmp_path / "two"
    one = start_demo(unused_port, first_dir)
    demo_factory.append(one)
    other_port = _free_port()
    two = start_demo(other_port, second_dir, "--json")
    demo_factory.append(two)
    ready = json.loads(two.lines[-1])
    assert ready["url"] == f"http://127.0.0.1:{other_port}/"
    assert [u["username"] for u in ready["users"]] == ["alice", "bob"]
    assert any("/auth/login" in c for c in ready["curl"])
    with httpx.Client(timeout=10) as client:
        jwks_one = client.get(f"{one.base}/auth/.well-known/jwks.json").json()
        jwks_two = client.get(f"{two.base}/auth/.well-known/jwks.json").json()
        # Separate data directories, separate keys.
        assert {k["kid"] for k in jwks_one["keys"]}.isdisjoint(k["kid"] for k in jwks_two["keys"])
        # A token from one demo is refused by the other (different key and issuer).
        token = client.post(
            f"{one.base}/auth/login", json={"username": "alice", "password": "alice-in-wonderland"}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get(f"{one.base}/api/admin/x", headers=auth).status_code == 200
        assert client.get(f"{two.base}/api/admin/x", headers=auth).status_code == 401

    assert one.stop() == 0
    again = start_demo(unused_port, first_dir)
    demo_factory.append(again)
    assert any("reused from an earlier start" in line for line in again.lines)
    with httpx.Client(timeout=10) as client:
        assert client.get(f"{again.base}/auth/.well-known/jwks.json").json() == jwks_one
        # Same keys and issuer: the token minted before the restart still works.
        assert client.get(f"{again.base}/api/admin/x", headers=auth).status_code == 200


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _cli("demo", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        f"jwtgate: error: config_invalid: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert "Traceback" not in result.stderr
