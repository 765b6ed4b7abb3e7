"""Help, version, ``config check``, and the argument errors of ``serve`` and ``demo``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jwtgate import __version__
from jwtgate.cli.main import main
from jwtgate.cli.parser import build_parser

RunCli = Callable[..., Any]


def _commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _commands(sub, (*prefix, name))


ALL_COMMANDS = sorted(_commands(build_parser()))


def test_command_tree_is_complete() -> None:
    expected = {
        ("demo",), ("serve",), ("version",), ("revoke",),
        ("keys", "generate"), ("keys", "list"), ("keys", "rotate"), ("keys", "jwks"),
        ("keys", "export"), ("token", "issue"), ("token", "verify"), ("token", "decode"),
        ("users", "add"), ("users", "list"), ("users", "show"), ("users", "disable"),
        ("users", "enable"), ("users", "set-roles"), ("users", "set-password"),
        ("clients", "add"), ("clients", "list"), ("clients", "remove"), ("config", "check"),
    }  # fmt: skip
    assert expected <= set(ALL_COMMANDS)


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_complete_help(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: jwtgate {' '.join(command)}")
    # The shared options are on every command.
    for option in ("--data-dir", "--config", "--json"):
        assert option in out, (command, option)


def test_version(plain_cli: RunCli) -> None:
    text = plain_cli("version")
    assert text.rc == 0
    assert text.out.startswith(f"jwtgate {__version__}")
    assert plain_cli("version", "--json").json()["version"] == __version__
    assert plain_cli("--version").out.strip() == f"jwtgate {__version__}"


def test_usage_errors_are_one_line(plain_cli: RunCli, inproc_cli: RunCli) -> None:
    plain_cli("frobnicate").assert_one_line_error(2, "usage_error")
    inproc_cli("keys", "list", "--bogus").assert_one_line_error(2, "usage_error")
    as_json = inproc_cli("revoke", "--json")
    assert as_json.rc == 2
    assert json.loads(as_json.err)["error"] == "usage_error"
    bare = inproc_cli("keys")  # a group alone prints its help and exits 2
    assert bare.rc == 2
    assert "generate" in bare.err


_VALID = """
data_dir: {data_dir}
tokens: {{issuer: "http://127.0.0.1:9999/auth", audience: api}}
gateway:
  routes:
    - name: echo
      match: {{prefix: /api}}
      upstream: http://127.0.0.1:9000
      require: {{roles: {{any_of: [admin]}}}}
"""


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("tokens: {algoritms: [ES256]}\n", "tokens.algoritms", id="unknown-key"),
        pytest.param(
            "gateway:\n  routes:\n    - name: a\n      match: {prefix: /a}\n"
            "      upstream: http://x\n      require: {scopes: {}}\n",
            "gateway.routes[0].require.scopes",
            id="rule-without-any-or-all",
        ),
        pytest.param(
            "gateway:\n  routes:\n    - name: s\n      match: {path: /s}\n"
            "      upstream: internal://stats\n      auth: public\n",
            "gateway.routes[0].auth",
            id="compile-time-rule",
        ),
        pytest.param("tokens: [1, 2\n", "line", id="invalid-yaml"),
        pytest.param("a: 1\na: 2\n", "duplicate key", id="duplicate-key"),
    ],
)
def test_config_check_names_the_bad_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["config", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "config_invalid" in err
    assert where in err


def test_config_check_ok_and_missing_file(
    plain_cli: RunCli, inproc_cli: RunCli, tmp_path: Path
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(_VALID.format(data_dir=tmp_path / "d"))
    ok = plain_cli("config", "check", str(good), "--json")
    assert ok.rc == 0, ok.err
    assert json.loads(ok.out) == {"ok": True, "file": str(good), "routes": 1}
    assert inproc_cli("config", "check", str(good)).out.startswith("OK:")
    inproc_cli("config", "check", str(tmp_path / "nope.yaml")).assert_one_line_error(
        1, "config_invalid"
    )
    inproc_cli("config", "check").assert_one_line_error(2, "usage_error")


def test_serve_and_demo_refuse_bad_setup(
    plain_cli: RunCli, inproc_cli: RunCli, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("gateway: {workers: 0}\n")
    plain_cli("serve", "--config", str(bad)).assert_one_line_error(1, "config_invalid")
    inproc_cli("--config", str(bad), "keys", "list").assert_one_line_error(1, "config_invalid")
    inproc_cli("demo", "--config", str(bad)).assert_one_line_error(2, "usage_error")
    inproc_cli("demo", "--port", "70000").assert_one_line_error(2, "usage_error")
    inproc_cli("demo", "--port", "eighty").assert_one_line_error(2, "usage_error")
    inproc_cli("serve", "nginx").assert_one_line_error(2, "usage_error")
