"""The README's Quick start holds exactly the two commands, and CI runs the second one.

Issue 2: "a Quick start section whose first fenced code block holds exactly
two commands ... `.ci/run` runs exactly the README's test command".
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Quick start\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section is not None, "README.md has no '## Quick start' section"
    block = re.search(r"^```[a-z]*\n(.*?)^```", section.group(1), re.M | re.S)
    assert block is not None, "the Quick start section has no fenced code block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def _ci_commands() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    # Shebang, comments, `set` and the `cd` to the repository root are plumbing.
    return [
        line.strip()
        for line in lines
        if line.strip()
        and not line.lstrip().startswith("#")
        and not line.strip().startswith(("set ", "cd "))
    ]


def test_quick_start_has_exactly_two_commands() -> None:
    commands = _quick_start_block()
    assert commands == ["./scripts/demo.sh", "./scripts/test.sh"]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = _quick_start_block()[1]
    assert _ci_commands() == [test_command]


def test_quick_start_scripts_exist_and_are_executable() -> None:
    for command in [*_quick_start_block(), ".ci/run"]:
        path = ROOT / command.removeprefix("./")
        assert path.is_file(), command
        assert os.stat(path).st_mode & stat.S_IXUSR, f"{command} is not executable"


def test_demo_script_runs_jwtgate_demo() -> None:
    script = (ROOT / "scripts" / "demo.sh").read_text(encoding="utf-8")
    assert "scripts/bootstrap.sh" in script
    assert re.search(r"^exec \.venv/bin/jwtgate demo\b", script, re.M)
