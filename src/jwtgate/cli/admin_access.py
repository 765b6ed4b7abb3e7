"""Shared plumbing of the admin commands: the AuthAdmin session, passwords, record output."""

from __future__ import annotations

import dataclasses
import getpass
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from jwtgate.cli.context import CliContext
from jwtgate.cli.errors import UsageError

if TYPE_CHECKING:
    from jwtgate.auth.admin import AuthAdmin

__all__ = ["add_password_options", "read_password", "record", "with_admin"]

_T = TypeVar("_T")

# Fields that must never be printed, whatever the store returns (hashes, secrets).
_SECRET_MARKERS = ("hash", "secret", "password", "token")


def with_admin(ctx: CliContext, action: Callable[[AuthAdmin], Awaitable[_T]]) -> _T:
    """Open the auth store named by the configuration, run ``action``, close it."""
    from jwtgate.auth.admin import AuthAdmin

    async def _run() -> _T:
        async with AuthAdmin.open(ctx.config) as admin:
            return await action(admin)

    return ctx.run(_run())


def record(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of a store record, without any secret-bearing field."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        raw: Mapping[str, Any] = dataclasses.asdict(obj)
    elif hasattr(obj, "model_dump"):
        raw = obj.model_dump()
    elif isinstance(obj, Mapping):
        raw = obj
    else:
        raw = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if any(m in key.lower() for m in _SECRET_MARKERS):
            continue
        if isinstance(value, (set, frozenset, tuple)):
            value = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        out[key] = value
    return out


def add_password_options(parser: Any) -> None:
    """``--password-stdin``; without it the password is prompted for (twice, hidden)."""
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (for scripts)",
    )


def read_password(ctx: CliContext) -> str:
    """The new password, from stdin or a hidden interactive prompt.

    There is deliberately no ``--password VALUE`` option: command-line
    arguments are visible to every local user in the process list and end up
    in shell history (CWE-214).
    """
    if ctx.args.password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
    elif sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("password (again): ") != password:
            raise UsageError("the two passwords differ")
    else:
        raise UsageError("no password: pass --password-stdin, or run in a terminal to be prompted")
    if not password:
        raise UsageError("the password is empty")
    return password
