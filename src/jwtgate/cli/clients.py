"""``jwtgate clients add|list|remove``: OAuth clients for the client-credentials grant."""

from __future__ import annotations

from jwtgate.cli.admin_access import record, with_admin
from jwtgate.cli.context import CliContext, table
from jwtgate.cli.parser import Subparsers, add_command, add_group
from jwtgate.cli.users import parse_roles

__all__ = ["register"]


def _scopes(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for value in values or ():
        out.extend(s for s in value.split() if s and s not in out)
    return tuple(out)


def _add(ctx: CliContext) -> int:
    scopes = _scopes(ctx.args.scope)
    roles = parse_roles(ctx.args.role)
    secret = with_admin(ctx, lambda a: a.add_client(ctx.args.client_id, scopes=scopes, roles=roles))
    # The secret exists only here: the store keeps a hash. Printing it once is the point
    # of this command, so it goes to stdout and a reminder to stderr.
    ctx.note("the client secret is shown only once; store it in your secret manager now")
    ctx.emit(
        {
            "client_id": ctx.args.client_id,
            "client_secret": secret,
            "scopes": list(scopes),
            "roles": list(roles),
        },
        [f"client_id: {ctx.args.client_id}", f"client_secret: {secret}"],
    )
    return 0


def _list(ctx: CliContext) -> int:
    clients = [record(c) for c in with_admin(ctx, lambda a: a.list_clients())]
    rows = [
        (
            c.get("client_id"),
            " ".join(c.get("scopes") or ()) or "-",
            ",".join(c.get("roles") or ()) or "-",
        )
        for c in clients
    ]
    ctx.emit({"clients": clients}, table(("CLIENT_ID", "SCOPES", "ROLES"), rows))
    return 0


def _remove(ctx: CliContext) -> int:
    with_admin(ctx, lambda a: a.remove_client(ctx.args.client_id))
    ctx.emit({"client_id": ctx.args.client_id, "removed": True}, f"removed {ctx.args.client_id}")
    return 0


def register(sub: Subparsers) -> None:
    """Add the ``clients`` command group."""
    group = add_group(
        sub,
        "clients",
        help="manage OAuth clients (client-credentials grant)",
        description="Manage service clients. Their secrets are generated, shown once and "
        "stored only as hashes.",
    )
    add = add_command(group, "add", help="add a client and print its secret once", handler=_add)
    add.add_argument("client_id", metavar="CLIENT_ID")
    add.add_argument(
        "--scope", action="append", metavar="SCOPE", help="allowed scope(s), repeatable"
    )
    add.add_argument("--role", action="append", metavar="ROLE", help="role(s) for its tokens")
    add_command(group, "list", help="list clients", handler=_list)
    rm = add_command(group, "remove", help="remove a client", handler=_remove)
    rm.add_argument("client_id", metavar="CLIENT_ID")
