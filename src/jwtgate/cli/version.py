"""``jwtgate version``: the package version."""

from __future__ import annotations

import platform

from jwtgate import __version__
from jwtgate.cli.context import CliContext
from jwtgate.cli.parser import Subparsers, add_command

__all__ = ["register"]


def _version(ctx: CliContext) -> int:
    ctx.emit(
        {"version": __version__, "python": platform.python_version()},
        f"jwtgate {__version__} (Python {platform.python_version()})",
    )
    return 0


def register(sub: Subparsers) -> None:
    """Add ``jwtgate version``."""
    add_command(sub, "version", help="print the jwtgate version", handler=_version)
