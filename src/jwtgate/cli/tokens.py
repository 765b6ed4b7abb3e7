"""``jwtgate token issue|verify|decode``: mint, check and inspect access tokens locally."""

from __future__ import annotations

import json
import sys
from typing import Any

from jwtgate.cli.context import CliContext
from jwtgate.cli.errors import UsageError
from jwtgate.cli.keyring_access import open_keyring
from jwtgate.cli.parser import Subparsers, add_command, add_group
from jwtgate.errors import TokenError

__all__ = ["RESERVED_CLAIMS", "parse_claim", "register"]

RESERVED_CLAIMS = frozenset(
    {
        # RFC 7519 section 4.1 registered claims.
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        # RFC 9068 section 2.2 / 2.2.3 access-token claims, set from their own options.
        "client_id",
        "scope",
        "roles",
        # jwtgate's refresh-family id and the cookie-mode CSRF binding (jwtgate.csrf):
        # forging either would defeat revocation by family or the CSRF check.
        "sid",
        "csrf",
    }
)
"""Claims ``--claim`` may not set: they have their own options or are set by the minter."""


def parse_claim(item: str) -> tuple[str, Any]:
    """Parse ``k=v``: ``v`` as JSON when it is valid JSON, else as a plain string."""
    name, sep, raw = item.partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError(f"--claim expects NAME=VALUE, got {item[:40]!r}")
    if name in RESERVED_CLAIMS:
        raise UsageError(
            f"--claim may not set the registered claim {name!r}; "
            "use --sub/--aud/--scope/--role/--ttl instead"
        )
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def _read_token(arg: str) -> str:
    # "-" reads the token from stdin, which keeps it out of the process list.
    token = sys.stdin.readline() if arg == "-" else arg
    token = token.strip()
    if not token:
        raise UsageError("no token given")
    return token


def _issue(ctx: CliContext) -> int:
    from jwtgate.jose import AccessTokenMinter

    extra = dict(parse_claim(c) for c in ctx.args.claim or ())
    ttl: int | None = ctx.args.ttl
    tokens = ctx.config.tokens
    if ttl is not None and not 0 < ttl <= tokens.max_ttl:
        raise UsageError(f"--ttl must be between 1 and tokens.max_ttl ({tokens.max_ttl}) seconds")
    keyring = open_keyring(ctx, create=False)
    minter = AccessTokenMinter(
        keyring,
        issuer=tokens.issuer,
        audience=tokens.audience,
        default_ttl=tokens.access_ttl,
        max_ttl=tokens.max_ttl,
    )
    minted = minter.mint(
        ctx.args.sub,
        audience=ctx.args.aud,
        scope=ctx.args.scope,
        roles=tuple(ctx.args.role or ()),
        ttl=ttl,
        extra=extra or None,
    )
    ctx.emit(
        {
            "access_token": minted.token,
            "token_type": "Bearer",
            "jti": minted.jti,
            "kid": minted.kid,
            "iat": minted.iat,
            "exp": minted.exp,
            "expires_in": int(minted.exp - minted.iat),
            "claims": minted.claims,
        },
        minted.token,
    )
    return 0


def _verify(ctx: CliContext) -> int:
    from jwtgate.jose import IssuerPolicy, Verifier

    token = _read_token(ctx.args.token)
    tokens = ctx.config.tokens
    keyring = open_keyring(ctx, create=False)
    audiences = frozenset(ctx.args.aud or [tokens.audience])
    # Accept exactly the algorithms of the keys we hold (RFC 8725 section 3.1):
    # the allow-list comes from our keyring, never from the token.
    algorithms = frozenset(str(i.alg) for i in keyring.infos())
    policy = IssuerPolicy(
        issuer=tokens.issuer,
        audiences=audiences,
        algorithms=algorithms,
        keys=keyring,
        leeway=float(tokens.leeway),
        max_lifetime=float(tokens.max_ttl),
    )
    try:
        verified = Verifier([policy]).verify(token)
    except TokenError as exc:
        if ctx.json:
            ctx.emit({"valid": False, "error": exc.code, "error_description": exc.description}, "")
            return 1
        raise
    header, claims = dict(verified.header), dict(verified.claims)
    ctx.emit(
        {"valid": True, "header": header, "claims": claims},
        ["valid: signature and claims verified", json.dumps(claims, indent=2, sort_keys=True)],
    )
    return 0


def _decode(ctx: CliContext) -> int:
    from jwtgate.jose import decode_unverified

    token = _read_token(ctx.args.token)
    header, claims = decode_unverified(token)
    ctx.emit(
        {"verified": False, "header": header, "claims": claims},
        [
            "UNVERIFIED: decoded only; the signature and claims were NOT checked",
            "header (UNVERIFIED):",
            json.dumps(header, indent=2, sort_keys=True),
            "claims (UNVERIFIED):",
            json.dumps(claims, indent=2, sort_keys=True),
        ],
    )
    return 0


def register(sub: Subparsers) -> None:
    """Add the ``token`` command group."""
    group = add_group(sub, "token", help="issue, verify and decode access tokens locally")
    issue = add_command(
        group,
        "issue",
        help="mint an RFC 9068 access token with the local active key",
        description="Mint an access token (typ at+jwt) signed by the active key of the "
        "data directory, for tokens.issuer. Prints the compact token (or JSON with --json).",
        epilog='--claim values are parsed as JSON when valid JSON (42, true, ["a"], '
        '{"k": 1}, "quoted") and taken as plain strings otherwise. Registered claims '
        f"({', '.join(sorted(RESERVED_CLAIMS))}) cannot be set with --claim.",
        handler=_issue,
    )
    issue.add_argument("--sub", required=True, help="subject (user id)")
    issue.add_argument("--aud", help="audience (default: tokens.audience)")
    issue.add_argument("--scope", help='space-separated scopes, e.g. "read write"')
    issue.add_argument(
        "--role", action="append", metavar="ROLE", help="a role (repeat for several)"
    )
    issue.add_argument(
        "--claim", action="append", metavar="NAME=VALUE", help="a custom claim (repeatable)"
    )
    issue.add_argument(
        "--ttl", type=int, metavar="SECONDS", help="lifetime (default: tokens.access_ttl)"
    )
    verify = add_command(
        group,
        "verify",
        help="verify a token against the local keyring and tokens settings",
        description="Verify signature and claims (issuer, audience, expiry, lifetime) with "
        "the local keyring. Exit 0 and print the claims if valid; exit 1 with the error "
        "code otherwise.",
        handler=_verify,
    )
    verify.add_argument("token", metavar="TOKEN", help="the compact JWT, or - to read stdin")
    verify.add_argument(
        "--aud", action="append", metavar="AUD", help="accepted audience (default: tokens.audience)"
    )
    decode = add_command(
        group,
        "decode",
        help="show header and claims WITHOUT verifying",
        description="Decode a token's header and claims without checking anything; the "
        "output is marked UNVERIFIED.",
        handler=_decode,
    )
    decode.add_argument("token", metavar="TOKEN", help="the compact JWT, or - to read stdin")
