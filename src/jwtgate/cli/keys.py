"""``jwtgate keys generate|list|rotate|jwks|export``: the local signing keyring."""

from __future__ import annotations

import datetime as dt
import json

from jwtgate.cli.context import CliContext, table
from jwtgate.cli.errors import NotFound, UsageError
from jwtgate.cli.keyring_access import (
    ALGORITHMS,
    announce_generation,
    open_keyring,
    open_or_create_keyring,
)
from jwtgate.cli.parser import Subparsers, add_command, add_group

__all__ = ["format_time", "register"]


def format_time(ts: float | None) -> str:
    """A Unix time as ISO 8601 UTC (seconds), or ``-`` when absent."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _info_dict(info: object) -> dict[str, object]:
    return {
        "kid": getattr(info, "kid", None),
        "alg": getattr(info, "alg", None),
        "state": str(getattr(info, "state", "")),
        "created_at": getattr(info, "created_at", None),
        "verify_until": getattr(info, "verify_until", None),
    }


def _state(value: object) -> str:
    # KeyState may be an enum; show its value ("active", "verify-only", "retired").
    return str(getattr(value, "value", value))


def _generate(ctx: CliContext) -> int:
    alg: str | None = ctx.args.alg
    keyring, created = open_or_create_keyring(ctx, create=True, algorithm=alg)
    if created:
        infos = [i for i in keyring.infos() if i.kid == keyring.active.kid]
        verb = "created keyring with"
    elif ctx.args.new:
        announce_generation(ctx, alg or ctx.config.tokens.algorithm)
        infos = [keyring.generate(alg)]
        verb = "added"
    else:
        infos = [i for i in keyring.infos() if i.kid == keyring.active.kid]
        verb = "keyring exists (use --new to add a key); active"
    data = [_info_dict(i) | {"state": _state(i.state)} for i in infos]
    ctx.emit(
        {"data_dir": str(ctx.data_dir), "created": created or bool(ctx.args.new), "keys": data},
        [f"{verb}: {d['kid']} ({d['alg']}, {d['state']}) in {ctx.data_dir}" for d in data],
    )
    return 0


def _list(ctx: CliContext) -> int:
    keyring = open_keyring(ctx, create=False)
    infos = keyring.infos()
    data = [_info_dict(i) | {"state": _state(i.state)} for i in infos]
    rows = [
        (d["kid"], d["alg"], d["state"], format_time(i.created_at), format_time(i.verify_until))
        for d, i in zip(data, infos, strict=True)
    ]
    ctx.emit(
        {"active": keyring.active.kid, "keys": data},
        table(("KID", "ALG", "STATE", "CREATED", "VERIFY UNTIL"), rows),
    )
    return 0


def _rotate(ctx: CliContext) -> int:
    keyring = open_keyring(ctx, create=False)
    previous = keyring.active.kid
    alg = ctx.args.alg or keyring.active.alg
    announce_generation(ctx, alg)
    new = keyring.rotate(algorithm=ctx.args.alg)
    ctx.emit(
        {"active": new.kid, "alg": new.alg, "previous": previous},
        f"rotated: {new.kid} ({new.alg}) is now active; {previous} is verify-only",
    )
    return 0


def _retire(ctx: CliContext) -> int:
    keyring = open_keyring(ctx, create=False)
    kid: str = ctx.args.kid
    if kid not in {i.kid for i in keyring.infos()}:
        raise NotFound(f"no key with kid {kid!r} in the keyring (see 'jwtgate keys list')")
    info = keyring.retire(kid)
    ctx.emit(
        {"kid": info.kid, "alg": info.alg, "state": _state(info.state)},
        f"retired: {info.kid} ({info.alg}); tokens it signed are no longer accepted",
    )
    return 0


def _jwks(ctx: CliContext) -> int:
    keyring = open_keyring(ctx, create=False)
    # The JWKS is JSON whatever the output mode: it is meant to be piped or served.
    ctx.stdout.write(json.dumps(keyring.jwks(), indent=2, sort_keys=True) + "\n")
    return 0


def _export(ctx: CliContext) -> int:
    if not ctx.args.private:
        raise UsageError(
            "keys export prints a PRIVATE key and needs --private to say so; "
            "for public keys use 'jwtgate keys jwks'"
        )
    keyring = open_keyring(ctx, create=False)
    kid: str = ctx.args.kid
    known = {i.kid: i for i in keyring.infos()}
    if kid not in known:
        raise NotFound(f"no key with kid {kid!r} in the keyring (see 'jwtgate keys list')")
    pem = keyring.export_private_pem(kid)
    ctx.note(
        "WARNING: printing a PRIVATE signing key; anyone holding it can mint tokens "
        "your gateway accepts. Store it encrypted and never commit it."
    )
    text = pem.decode("ascii")
    ctx.emit({"kid": kid, "alg": known[kid].alg, "private_pem": text}, text.rstrip("\n"))
    return 0


def register(sub: Subparsers) -> None:
    """Add the ``keys`` command group."""
    keys = add_group(
        sub,
        "keys",
        help="manage the local signing keys",
        description="Manage the signing keys in the data directory "
        "(PEM files readable by the owner only).",
    )
    gen = add_command(
        keys,
        "generate",
        help="create the keyring (first active key) if missing",
        description="Create the keyring with its first active key when the data directory "
        "has none. With --new, add another key even if a keyring exists.",
        handler=_generate,
    )
    gen.add_argument("--alg", choices=ALGORITHMS, help="algorithm (default: tokens.algorithm)")
    gen.add_argument("--new", action="store_true", help="add a key to an existing keyring")
    add_command(keys, "list", help="show kid, algorithm, state and dates", handler=_list)
    rot = add_command(
        keys,
        "rotate",
        help="make a new key active; the old one stays verify-only",
        description="Create a new active key. The previous key is kept verify-only until "
        "every token it signed has expired (tokens.max_ttl + tokens.leeway).",
        handler=_rotate,
    )
    rot.add_argument("--alg", choices=ALGORITHMS, help="algorithm of the new key")
    ret = add_command(
        keys,
        "retire",
        help="stop trusting one key now (a leaked key); rotate first if it is active",
        description="Retire the key with the given kid at once: it leaves the JWKS, tokens "
        "it signed are refused by every gateway reading this keyring or its JWKS, and its "
        "private key file is deleted. The active key cannot be retired; run "
        "'jwtgate keys rotate' first.",
        handler=_retire,
    )
    ret.add_argument(
        "--kid",
        required=True,
        help="the key id (see 'jwtgate keys list'); write --kid=K when K starts with -",
    )
    add_command(keys, "jwks", help="print the public JWKS (never private members)", handler=_jwks)
    exp = add_command(
        keys,
        "export",
        help="print one PRIVATE key as PEM (needs --private)",
        description="Print the private key with the given kid as PEM on stdout, with a "
        "warning on stderr.",
        handler=_export,
    )
    exp.add_argument(
        "--kid",
        required=True,
        help="the key id (see 'jwtgate keys list'); write --kid=K when K starts with -",
    )
    exp.add_argument(
        "--private",
        action="store_true",
        help="confirm that a private key is to be printed",
    )
