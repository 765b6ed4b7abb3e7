"""``jwtgate demo``: everything on loopback in one command."""

from __future__ import annotations

from jwtgate.cli.context import CliContext
from jwtgate.cli.errors import UsageError
from jwtgate.cli.parser import Subparsers, add_command

__all__ = ["register"]


def _demo(ctx: CliContext) -> int:
    from jwtgate.demo import DEFAULT_DEMO_DIR, run_demo

    ctx.require_no_config("jwtgate demo", "it builds its own; use 'jwtgate serve --config FILE'")
    port: int = ctx.args.port
    if not 1 <= port <= 65535:
        raise UsageError("--port must be between 1 and 65535")
    return run_demo(
        host=ctx.args.host,
        port=port,
        data_dir=ctx.data_dir_override or DEFAULT_DEMO_DIR,
        as_json=ctx.json,
        out=ctx.stdout,
        err=ctx.stderr,
    )


def register(sub: Subparsers) -> None:
    """Add ``jwtgate demo``."""
    parser = add_command(
        sub,
        "demo",
        help="run gateway, auth server, echo upstream and console on loopback",
        description="Run the whole system in the foreground on one port: the auth server "
        "at /auth, the echo upstream at /api/echo (any valid token), /api/admin (role "
        "admin) and /api/public (no token), the browser console at /, and /healthz.\n\n"
        "The first start generates keys, a SQLite database and the DEMO-ONLY users:\n\n"
        "  alice / alice-in-wonderland (roles admin, user)\n"
        "  bob   / bob-the-builder     (role user)\n\n"
        "They live in the data directory (--data-dir, default ./.jwtgate-demo, kept apart "
        "from ./.jwtgate so the public demo passwords never reach a real store); later "
        "starts reuse them. The demo does not take --config: it writes its configuration "
        "to DATA_DIR/demo.yaml for other commands to use. Cookies are sent without Secure "
        "(and without the __Host- prefix) because the demo is plain HTTP on loopback. "
        "Ctrl-C stops it.",
        handler=_demo,
    )
    parser.add_argument("--port", type=int, default=8080, help="listen port (default 8080)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="listen address (default 127.0.0.1; the demo is meant for loopback only)",
    )
