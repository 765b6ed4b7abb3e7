"""Helpers for CLI tests: run ``python -m jwtgate`` as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class CliResult:
    """Exit status and output of one ``jwtgate`` run."""

    rc: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.out)

    def assert_one_line_error(self, rc: int = 1, code: str | None = None) -> None:
        """The run failed with ``rc``: one stderr line, no traceback."""
        assert self.rc == rc, (self.rc, self.out, self.err)
        lines = [line for line in self.err.splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line]
        assert len(errors) == 1, self.err
        assert "Traceback" not in self.err
        if code is not None:
            assert code in errors[0], self.err


RunCli = Callable[..., CliResult]


def run_jwtgate(*args: str, stdin: str | None = None, cwd: Path | None = None) -> CliResult:
    """Run ``python -m jwtgate ARGS`` and capture everything."""
    env = dict(os.environ)
    env.pop("JWTGATE_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "jwtgate", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def _runner(base: Path) -> RunCli:
    data_dir = base / "data"

    def run(*args: str, stdin: str | None = None) -> CliResult:
        return run_jwtgate(*args, "--data-dir", str(data_dir), stdin=stdin, cwd=base)

    return run


@pytest.fixture
def jwtgate_cli(tmp_path: Path) -> RunCli:
    """Run the CLI with ``--data-dir`` pointing at a fresh temporary directory."""
    return _runner(tmp_path)


@pytest.fixture(scope="module")
def keyed_cli(tmp_path_factory: pytest.TempPathFactory) -> RunCli:
    """Run the CLI against one data directory (per test module) that holds a keyring."""
    run = _runner(tmp_path_factory.mktemp("keyed"))
    made = run("keys", "generate")
    assert made.rc == 0, made.err
    return run


@pytest.fixture
def plain_cli(tmp_path: Path) -> RunCli:
    """Run the CLI in a temporary working directory without extra options."""

    def run(*args: str, stdin: str | None = None) -> CliResult:
        return run_jwtgate(*args, stdin=stdin, cwd=tmp_path)

    return run


@pytest.fixture
def inproc_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> RunCli:
    """Run ``jwtgate.cli.main.main`` in this process (same code path, no start-up cost)."""
    import io

    from jwtgate.cli.main import main

    data_dir = tmp_path / "data"

    def run(*args: str, stdin: str | None = None) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin or ""))
        try:
            rc = main([*args, "--data-dir", str(data_dir)])
        except SystemExit as exc:  # argparse usage errors
            rc = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(rc, captured.out, captured.err)

    return run
