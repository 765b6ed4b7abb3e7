"""The ``jwtgate`` command line (argparse; one module per command group)."""

from __future__ import annotations

from jwtgate.cli.main import main

__all__ = ["main"]
