"""``jwtgate users|clients|revoke`` in process (SQLite store); one real-process pass too."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RunCli = Callable[..., Any]


def test_users_lifecycle(inproc_cli: RunCli) -> None:
    password = "correct-horse-battery\n"
    added = inproc_cli(
        "users", "add", "carol", "--role", "admin,user", "--password-stdin", "--json",
        stdin=password,
    )  # fmt: skip
    assert added.rc == 0, added.err
    user = added.json()
    assert user["username"] == "carol"
    assert user["roles"] == ["admin", "user"]
    # No hash or password field ever reaches the output.
    assert "correct-horse" not in added.out + added.err
    assert not any("hash" in k or "password" in k for k in user)

    inproc_cli("users", "add", "carol", "--password-stdin", stdin=password).assert_one_line_error(
        1, "user_exists"
    )
    listed = inproc_cli("users", "list", "--json").json()["users"]
    assert [u["username"] for u in listed] == ["carol"]

    assert inproc_cli("users", "disable", "carol").rc == 0
    assert inproc_cli("users", "show", "carol", "--json").json()["disabled"] is True
    assert inproc_cli("users", "enable", "carol").rc == 0
    assert inproc_cli("users", "set-roles", "carol", "--role", "user").rc == 0
    shown = inproc_cli("users", "show", "carol", "--json").json()
    assert shown["disabled"] is False
    assert shown["roles"] == ["user"]
    changed = inproc_cli(
        "users", "set-password", "carol", "--password-stdin", stdin="n3w-pa55-word\n"
    )
    assert changed.rc == 0, changed.err

    text = inproc_cli("users", "list")
    assert text.out.split()[:3] == ["USERNAME", "ROLES", "ENABLED"]
    assert "carol" in text.out


def test_users_bad_input(inproc_cli: RunCli) -> None:
    inproc_cli("users", "show", "nobody").assert_one_line_error(1, "unknown_user")
    inproc_cli("users", "disable", "nobody").assert_one_line_error(1, "unknown_user")
    # Password policy (issue 3: length 8..128).
    inproc_cli("users", "add", "dave", "--password-stdin", stdin="short\n").assert_one_line_error(
        1, "weak_password"
    )
    # No terminal and no --password-stdin: refuse rather than read an argument.
    inproc_cli("users", "add", "dave").assert_one_line_error(2, "usage_error")
    inproc_cli("users", "add", "dave", "--password", "x").assert_one_line_error(2)


def test_clients_and_revoke(inproc_cli: RunCli) -> None:
    added = inproc_cli("clients", "add", "svc-a", "--scope", "api", "--json")
    assert added.rc == 0, added.err
    secret = added.json()["client_secret"]
    assert len(secret) >= 43  # 256 bits, base64url
    assert "shown only once" in added.err

    listed = inproc_cli("clients", "list", "--json").json()["clients"]
    assert [c["client_id"] for c in listed] == ["svc-a"]
    assert secret not in inproc_cli("clients", "list").out  # only a hash is stored

    assert inproc_cli("clients", "remove", "svc-a").rc == 0
    inproc_cli("clients", "remove", "svc-a").assert_one_line_error(1, "unknown_client")

    jti = inproc_cli("revoke", "--jti", "abc123", "--json")
    assert jti.rc == 0
    assert jti.json() == {"revoked": "jti", "value": "abc123"}
    assert inproc_cli("revoke", "--sub", "carol").rc == 0
    inproc_cli("revoke", "--family", "nope").assert_one_line_error(1, "unknown_family")
    inproc_cli("revoke").assert_one_line_error(2, "usage_error")
    inproc_cli("revoke", "--jti", "a", "--sub", "b").assert_one_line_error(2, "usage_error")


def test_admin_commands_as_real_processes(jwtgate_cli: RunCli) -> None:
    """One pass through ``python -m jwtgate`` for the store-backed commands."""
    added = jwtgate_cli("users", "add", "erin", "--password-stdin", stdin="erin-long-password\n")
    assert added.rc == 0, added.err
    jwtgate_cli("users", "show", "nobody", "--json").assert_one_line_error(1, "unknown_user")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("answers", "rc"),
    [(["prompted-pass-1", "prompted-pass-1"], 0), (["prompted-pass-1", "different-pass"], 2)],
)
def test_users_add_prompts_twice_in_a_terminal(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answers: list[str],
    rc: int,
) -> None:
    from jwtgate.cli.main import main

    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return answers[len(prompts) - 1]

    monkeypatch.setattr("sys.stdin", _Tty())
    monkeypatch.setattr("getpass.getpass", fake_getpass)
    assert main(["users", "add", "frank", "--data-dir", str(tmp_path)]) == rc
    captured = capsys.readouterr()
    assert prompts == ["password: ", "password (again): "]
    assert "prompted-pass" not in captured.out + captured.err  # never echoed
    if rc == 2:
        assert "the two passwords differ" in captured.err
