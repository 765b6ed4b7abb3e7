"""``jwtgate users add|list|show|disable|enable|set-roles|set-password``."""

from __future__ import annotations

from jwtgate.cli.admin_access import add_password_options, read_password, record, with_admin
from jwtgate.cli.context import CliContext, table
from jwtgate.cli.errors import NotFound
from jwtgate.cli.parser import (
    Handler,
    JwtGateArgumentParser,
    Subparsers,
    add_command,
    add_group,
)

__all__ = ["parse_roles", "register"]


def parse_roles(values: list[str] | None) -> tuple[str, ...]:
    """Roles from repeated and/or comma-separated ``--role`` values, de-duplicated in order."""
    out: list[str] = []
    for value in values or ():
        for role in value.split(","):
            role = role.strip()
            if role and role not in out:
                out.append(role)
    return tuple(out)


def _add(ctx: CliContext) -> int:
    password = read_password(ctx)
    roles = parse_roles(ctx.args.role)
    user = with_admin(ctx, lambda a: a.add_user(ctx.args.username, password, roles))
    data = record(user) if user is not None else {"username": ctx.args.username}
    ctx.emit(data, f"added user {ctx.args.username} (roles: {', '.join(roles) or '-'})")
    return 0


def _list(ctx: CliContext) -> int:
    users = [record(u) for u in with_admin(ctx, lambda a: a.list_users())]
    rows = [
        (
            u.get("username"),
            ",".join(u.get("roles") or ()) or "-",
            "no" if u.get("disabled") or u.get("enabled") is False else "yes",
        )
        for u in users
    ]
    ctx.emit({"users": users}, table(("USERNAME", "ROLES", "ENABLED"), rows))
    return 0


def _show(ctx: CliContext) -> int:
    user = with_admin(ctx, lambda a: a.get_user(ctx.args.username))
    if user is None:
        raise NotFound(f"no user named {ctx.args.username!r}")
    data = record(user)
    ctx.emit(data, [f"{k}: {v}" for k, v in sorted(data.items())])
    return 0


def _simple(method: str, done: str) -> Handler:
    def handler(ctx: CliContext) -> int:
        with_admin(ctx, lambda a: getattr(a, method)(ctx.args.username))
        ctx.emit({"username": ctx.args.username, "result": done}, f"{ctx.args.username}: {done}")
        return 0

    return handler


def _set_roles(ctx: CliContext) -> int:
    roles = parse_roles(ctx.args.role)
    with_admin(ctx, lambda a: a.set_roles(ctx.args.username, roles))
    ctx.emit(
        {"username": ctx.args.username, "roles": list(roles)},
        f"{ctx.args.username}: roles set to {', '.join(roles) or '-'}",
    )
    return 0


def _set_password(ctx: CliContext) -> int:
    password = read_password(ctx)
    with_admin(ctx, lambda a: a.set_password(ctx.args.username, password))
    ctx.emit(
        {"username": ctx.args.username, "result": "password changed"},
        f"{ctx.args.username}: password changed; older tokens of this user are revoked",
    )
    return 0


def _username(parser: JwtGateArgumentParser) -> None:
    parser.add_argument("username", metavar="USERNAME")


def register(sub: Subparsers) -> None:
    """Add the ``users`` command group."""
    group = add_group(
        sub,
        "users",
        help="manage auth-server users",
        description="Manage the users of the auth server's store (SQLite in the data "
        "directory, or auth.database_url). Passwords are read with --password-stdin or "
        "prompted for; there is no --password option, because arguments are visible in "
        "the process list and shell history.",
    )
    add = add_command(group, "add", help="add a user", handler=_add)
    _username(add)
    add.add_argument(
        "--role", action="append", metavar="ROLE", help="role(s), repeatable or comma-separated"
    )
    add_password_options(add)
    add_command(group, "list", help="list users and their roles", handler=_list)
    _username(add_command(group, "show", help="show one user", handler=_show))
    _username(
        add_command(
            group,
            "disable",
            help="disable a user and revoke all of their tokens",
            handler=_simple("disable_user", "disabled; all of their tokens are revoked"),
        )
    )
    _username(
        add_command(
            group, "enable", help="enable a user", handler=_simple("enable_user", "enabled")
        )
    )
    roles = add_command(group, "set-roles", help="replace a user's roles", handler=_set_roles)
    _username(roles)
    roles.add_argument(
        "--role", action="append", metavar="ROLE", help="role(s); none clears the roles"
    )
    pw = add_command(group, "set-password", help="change a user's password", handler=_set_password)
    _username(pw)
    add_password_options(pw)
