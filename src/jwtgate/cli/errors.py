"""Errors raised by the ``jwtgate`` command itself (bad arguments, missing files).

They join the one :mod:`jwtgate.errors` hierarchy, so the CLI prints every
failure the same way: one line with a stable code, never a traceback.
"""

from __future__ import annotations

from jwtgate.errors import JwtGateError

__all__ = ["CliError", "NotFound", "UsageError"]


class CliError(JwtGateError):
    """An operational failure of a CLI command (exit status 1)."""

    code = "cli_error"
    status = 400
    default_description = "the command failed"


class UsageError(CliError):
    """The command line itself is wrong (exit status 2, like argparse)."""

    code = "usage_error"
    default_description = "invalid command line"


class NotFound(CliError):
    """A named user, client, key or file does not exist."""

    code = "not_found"
    status = 404
    default_description = "not found"
