"""The argparse tree: one module per command group registers its subcommands."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Callable
from typing import ClassVar, NoReturn, TypeAlias

from jwtgate import __version__
from jwtgate.cli.context import CliContext, add_common_options

__all__ = [
    "Handler",
    "JwtGateArgumentParser",
    "Subparsers",
    "add_command",
    "add_group",
    "build_parser",
]

Handler = Callable[[CliContext], int]
"""A command implementation: gets the context, returns the exit status."""

Subparsers: TypeAlias = "argparse._SubParsersAction[JwtGateArgumentParser]"
"""The object group modules add their commands to."""


class JwtGateArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2.

    The stock parser prints the whole usage block before the error; one line
    that names the command and points at ``--help`` is easier to read and to
    match in scripts.
    """

    json_errors: ClassVar[bool] = False
    """Set by ``main`` when ``--json`` is on the command line: usage errors as JSON too."""

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: usage_error: <message> (see --help)`` and exit 2."""
        hint = f"{message} (see '{self.prog} --help')"
        if self.json_errors:
            self.exit(2, json.dumps({"error": "usage_error", "error_description": hint}) + "\n")
        self.exit(2, f"{self.prog}: error: usage_error: {hint}\n")


def _wrap(text: str | None) -> str | None:
    """Fill prose paragraphs to 79 columns; keep indented (pre-formatted) lines as written."""
    if text is None:
        return None
    out = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        if any(line.startswith(" ") for line in lines):
            out.append(paragraph)
        else:
            out.append(textwrap.fill(" ".join(lines), width=79))
    return "\n\n".join(out)


def add_command(
    subparsers: Subparsers,
    name: str,
    *,
    help: str,
    description: str | None = None,
    handler: Handler | None = None,
    epilog: str | None = None,
) -> JwtGateArgumentParser:
    """Add a subcommand carrying the common options and, if given, its handler."""
    parser = subparsers.add_parser(
        name,
        help=help,
        description=_wrap(description or help),
        epilog=_wrap(epilog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_options(parser)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def add_group(
    subparsers: Subparsers,
    name: str,
    *,
    help: str,
    description: str | None = None,
) -> Subparsers:
    """Add a command group (``keys``, ``users``...) and return its own subparsers."""
    group = add_command(subparsers, name, help=help, description=description)
    group.set_defaults(handler=None, group_parser=group)
    return group.add_subparsers(title="commands", metavar="COMMAND", parser_class=type(group))


def build_parser() -> JwtGateArgumentParser:
    """The complete ``jwtgate`` command line."""
    # Imported here so that each group module may import this one.
    from jwtgate.cli import (
        clients,
        config_cmd,
        demo,
        keys,
        revoke,
        serve,
        tokens,
        users,
        version,
    )

    parser = JwtGateArgumentParser(
        prog="jwtgate",
        description="jwtgate: JWT auth server, API gateway and tooling for JWT-secured APIs.",
        epilog="examples:\n"
        "  jwtgate demo                               # everything on http://127.0.0.1:8080\n"
        "  jwtgate keys generate\n"
        "  jwtgate token issue --sub alice --role admin --ttl 300\n"
        "  jwtgate config check gateway.yaml\n"
        "  jwtgate serve --config gateway.yaml\n\n"
        "Run 'jwtgate COMMAND --help' for the options of a command. Exit status: 0 "
        "success,\n1 operational error (one line with a stable error code), 2 usage error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jwtgate {__version__}")
    add_common_options(parser)
    parser.set_defaults(handler=None, group_parser=parser)
    sub = parser.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=JwtGateArgumentParser
    )
    for module in (demo, serve, keys, tokens, users, clients, revoke, config_cmd, version):
        module.register(sub)
    return parser
