"""``jwtgate revoke --jti J | --sub S | --family F``."""

from __future__ import annotations

from jwtgate.cli.admin_access import with_admin
from jwtgate.cli.context import CliContext
from jwtgate.cli.parser import Subparsers, add_command

__all__ = ["register"]


def _revoke(ctx: CliContext) -> int:
    args = ctx.args
    if args.jti is not None:
        kind, value, method = "jti", args.jti, "revoke_jti"
    elif args.sub is not None:
        kind, value, method = "sub", args.sub, "revoke_subject"
    else:
        kind, value, method = "family", args.family, "revoke_family"
    with_admin(ctx, lambda a: getattr(a, method)(value))
    ctx.emit({"revoked": kind, "value": value}, f"revoked {kind} {value}")
    return 0


def register(sub: Subparsers) -> None:
    """Add ``jwtgate revoke``."""
    parser = add_command(
        sub,
        "revoke",
        help="revoke one access token, a subject's tokens, or a refresh family",
        description="Revoke through the auth server's store: --jti one access token, --sub "
        "every token of a subject issued before now, --family a refresh-token family and "
        "every access token minted from it. Gateways learn of it through the configured "
        "revocation backend (use 'redis' when the gateway runs in another process).",
        handler=_revoke,
    )
    which = parser.add_mutually_exclusive_group(required=True)
    # Token ids are base64url and may start with "-"; argparse then needs --jti=VALUE.
    which.add_argument(
        "--jti", metavar="JTI", help="an access token's jti (--jti=J if J starts with -)"
    )
    which.add_argument("--sub", metavar="SUB", help="a subject (user id)")
    which.add_argument(
        "--family",
        metavar="FAMILY",
        help="a refresh family id, the sid claim (--family=F if F starts with -)",
    )
