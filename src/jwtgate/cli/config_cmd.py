"""``jwtgate config check FILE``: validate a configuration without starting anything."""

from __future__ import annotations

from pathlib import Path

from jwtgate.cli.context import CliContext
from jwtgate.cli.parser import Subparsers, add_command, add_group
from jwtgate.config import load_config

__all__ = ["register"]


def _check(ctx: CliContext) -> int:
    from jwtgate.gateway import compile_gateway

    path: Path = ctx.args.file
    # Both steps raise ConfigError naming the offending path (routes[2].require.scopes);
    # main() prints it as one line and exits 1.
    config = load_config(path)
    compiled = compile_gateway(config)
    routes = len(getattr(compiled, "routes", ()) or ())
    ctx.emit(
        {"ok": True, "file": str(path), "routes": routes},
        f"OK: {path} is valid ({routes} routes)",
    )
    return 0


def _reference(ctx: CliContext) -> int:
    from jwtgate.config.reference import render_reference

    text = render_reference()
    ctx.emit({"markdown": text}, text.rstrip("\n"))
    return 0


def register(sub: Subparsers) -> None:
    """Add the ``config`` command group."""
    group = add_group(sub, "config", help="work with configuration files")
    check = add_command(
        group,
        "check",
        help="validate a configuration file (exit 1 with the offending paths if invalid)",
        description="Load FILE (YAML, ${ENV} substitution), validate every section and "
        "compile the gateway routes, without starting anything.",
        handler=_check,
    )
    check.add_argument("file", type=Path, metavar="FILE", help="the YAML configuration")
    add_command(
        group,
        "reference",
        help="print the configuration reference (every field, type and default) as Markdown",
        description="Print the reference of every configuration field with its type, "
        "default and meaning, generated from the configuration models (the same text "
        "as docs/configuration.md).",
        handler=_reference,
    )
