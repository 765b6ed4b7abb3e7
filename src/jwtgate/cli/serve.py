"""``jwtgate serve [gateway|auth]``: run the gateway (with its components) or the auth server."""

from __future__ import annotations

import contextlib

from jwtgate.cli.context import CliContext
from jwtgate.cli.parser import Subparsers, add_command

__all__ = ["register"]


def _serve(ctx: CliContext) -> int:
    config = ctx.config
    if ctx.args.target == "auth":
        from jwtgate.auth import serve_standalone

        mount = config.auth.mount_path
        ctx.note(
            f"auth server on http://{ctx.args.host}:{ctx.args.port}{mount} "
            f"(issuer {config.tokens.issuer})"
        )
        with contextlib.suppress(KeyboardInterrupt):
            ctx.run(serve_standalone(config, host=ctx.args.host, port=ctx.args.port))
        return 0
    from jwtgate.components import build_components
    from jwtgate.gateway.server import serve

    urls = ", ".join(
        f"{'https' if li.tls else 'http'}://{li.host}:{li.port}" for li in config.gateway.listeners
    )

    def _ready() -> None:
        ctx.note(f"gateway ready on {urls} ({len(config.gateway.routes)} routes)")

    with contextlib.suppress(KeyboardInterrupt):
        serve(config, ctx.config_path, build_components, ready=_ready)
    return 0


def register(sub: Subparsers) -> None:
    """Add ``jwtgate serve``."""
    parser = add_command(
        sub,
        "serve",
        help="run the gateway (default) or the auth server alone",
        description="'jwtgate serve' runs the gateway with the listeners, issuers and routes "
        "of --config, plus the internal:// components its routes name (auth, echo, "
        "console). 'jwtgate serve auth' runs only the auth server. Ctrl-C stops; SIGHUP "
        "reloads the gateway configuration; SIGTERM drains.",
        handler=_serve,
    )
    parser.add_argument(
        "target",
        nargs="?",
        choices=("gateway", "auth"),
        default="gateway",
        help="what to run (default: gateway)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="auth alone: listen address")
    parser.add_argument("--port", type=int, default=8081, help="auth alone: listen port")
