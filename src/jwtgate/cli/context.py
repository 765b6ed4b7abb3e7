"""What every command gets: the parsed options, the configuration and the output channel."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

from jwtgate.cli.errors import UsageError
from jwtgate.config import JwtGateConfig, load_config

__all__ = ["CliContext", "add_common_options", "common_parent", "table"]

_T = TypeVar("_T")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-dir``, ``--config`` and ``--json`` to ``parser``.

    The defaults are ``SUPPRESS`` so the options may be given before or after
    the subcommand (``jwtgate --json keys list`` == ``jwtgate keys list --json``)
    without the subcommand's parser overwriting the earlier value.
    """
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="directory holding keys and the SQLite database "
        "(default: data_dir from --config, else ./.jwtgate)",
    )
    group.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="YAML configuration file (default: embedded defaults)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="machine-readable JSON output (errors too, on stderr)",
    )


def common_parent() -> argparse.ArgumentParser:
    """A parent parser carrying the common options, for ``parents=[...]``."""
    parent = argparse.ArgumentParser(add_help=False)
    add_common_options(parent)
    return parent


@dataclass
class CliContext:
    """Parsed options plus lazily loaded configuration and output helpers."""

    args: argparse.Namespace
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    _config: JwtGateConfig | None = None

    @property
    def json(self) -> bool:
        """True when ``--json`` was given."""
        return bool(getattr(self.args, "json", False))

    @property
    def config_path(self) -> Path | None:
        """The ``--config`` file, if any."""
        value = getattr(self.args, "config", None)
        return value if isinstance(value, Path) else None

    @property
    def data_dir_override(self) -> Path | None:
        """The ``--data-dir`` value, if given."""
        value = getattr(self.args, "data_dir", None)
        return value if isinstance(value, Path) else None

    @property
    def config(self) -> JwtGateConfig:
        """The configuration: ``--config`` (or the defaults) with ``--data-dir`` applied."""
        if self._config is None:
            config = load_config(self.config_path)
            override = self.data_dir_override
            if override is not None:
                config = config.model_copy(update={"data_dir": override})
            self._config = config
        return self._config

    @property
    def data_dir(self) -> Path:
        """The effective data directory."""
        return self.config.data_dir

    def emit(self, data: Any, text: str | Iterable[str]) -> None:
        """Print ``data`` as one JSON document with ``--json``, else ``text``."""
        if self.json:
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
            return
        lines = [text] if isinstance(text, str) else list(text)
        for line in lines:
            self.stdout.write(line + "\n")
        self.stdout.flush()

    def note(self, message: str) -> None:
        """A progress or warning line on stderr (kept off stdout so pipes stay clean)."""
        self.stderr.write(f"jwtgate: {message}\n")
        self.stderr.flush()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run one coroutine to completion on a fresh event loop."""
        return asyncio.run(coro)

    def require_no_config(self, command: str, hint: str) -> None:
        """Refuse ``--config`` for commands that build their own configuration."""
        if self.config_path is not None:
            raise UsageError(f"{command} does not take --config; {hint}")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Format rows as left-aligned text columns (the text form of list commands)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
