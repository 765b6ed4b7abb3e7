"""Users and OAuth clients in the database."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jwtgate.auth.db import reading, readonly
from jwtgate.auth.errors import ClientExists, InvalidRequest, UnknownClient, UnknownUser, UserExists
from jwtgate.auth.schema import clients as _c
from jwtgate.auth.schema import users as _u

__all__ = [
    "USERNAME_MAX",
    "ClientInfo",
    "ClientRecord",
    "UserInfo",
    "UserRecord",
    "UserStore",
    "check_client_id",
    "check_names",
    "check_username",
    "join_names",
    "record_from_row",
    "split_names",
]

USERNAME_MAX = 64
"""Longest username (the ``users.username`` column)."""
_USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_NAME_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,64}")  # RFC 6749 3.3 scope-token
_CLIENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}")


def check_username(username: str) -> str:
    """Validate a username for creation (1..64 of ``A-Za-z0-9._@+-``)."""
    if not isinstance(username, str) or not _USERNAME_RE.fullmatch(username):
        raise InvalidRequest("usernames are 1-64 characters of A-Z a-z 0-9 . _ @ + -")
    return username


def check_client_id(client_id: str) -> str:
    """Validate a client id for creation (RFC 6749 2.2 allows more; we keep it URL-safe)."""
    if not isinstance(client_id, str) or not _CLIENT_RE.fullmatch(client_id):
        raise InvalidRequest("client ids are 1-128 characters of A-Z a-z 0-9 . _ ~ -")
    return client_id


def check_names(names: Sequence[str], what: str) -> tuple[str, ...]:
    """Validate role or scope names (RFC 6749 3.3 scope-token syntax), de-duplicated, sorted."""
    if isinstance(names, str):
        names = names.split()
    out = set()
    for name in names:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise InvalidRequest(f"invalid {what} name")
        out.add(name)
    return tuple(sorted(out))


def join_names(names: Sequence[str]) -> str:
    """Space-separated storage form."""
    return " ".join(names)


def split_names(text: str) -> tuple[str, ...]:
    """Inverse of :func:`join_names`."""
    return tuple(text.split())


@dataclass(frozen=True, slots=True)
class UserInfo:
    """Public view of a user (no hash)."""

    username: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user with its password hash (internal)."""

    info: UserInfo
    password_hash: str


def record_from_row(row: Sequence[Any]) -> UserRecord:
    """A :class:`UserRecord` from a ``users`` row in table column order."""
    username, password_hash, roles, disabled, created_at, updated_at = row
    info = UserInfo(
        str(username), split_names(str(roles)), bool(disabled), float(created_at), float(updated_at)
    )
    return UserRecord(info, str(password_hash))


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Public view of an OAuth client (no secret hash)."""

    client_id: str
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    created_at: float


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A client with its secret hash (internal)."""

    info: ClientInfo
    secret_hash: str


class UserStore:
    """CRUD for users and clients."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = readonly(engine)

    async def create_user(
        self, username: str, password_hash: str, roles: Sequence[str], now: float
    ) -> UserInfo:
        """Insert a user; :class:`UserExists` on a duplicate, in any letter case."""
        try:
            async with self._engine.begin() as conn:
                # CWE-178: "Alice" beside "alice" would be two accounts that
                # share one login-throttle key and reach upstreams as X-User-Id
                # values a case-insensitive consumer takes for one identity.
                clash = select(_u.c.username).where(func.lower(_u.c.username) == username.lower())
                if (await conn.execute(clash)).first() is not None:
                    raise UserExists()
                await conn.execute(
                    _u.insert().values(
                        username=username,
                        password_hash=password_hash,
                        roles=join_names(roles),
                        disabled=False,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise UserExists() from None
        return UserInfo(username, tuple(roles), False, now, now)

    async def get_user(
        self, username: str, *, conn: AsyncConnection | None = None
    ) -> UserRecord | None:
        """The user, or ``None`` (on ``conn`` when given)."""
        async with reading(self._reader, conn) as c:
            row = (await c.execute(select(_u).where(_u.c.username == username))).first()
        return None if row is None else record_from_row(tuple(row))

    async def require_user(self, username: str) -> UserRecord:
        """The user, or :class:`UnknownUser`."""
        record = await self.get_user(username)
        if record is None:
            raise UnknownUser()
        return record

    async def list_users(self) -> list[UserInfo]:
        """Every user, by name."""
        async with self._reader.connect() as conn:
            rows = await conn.execute(select(_u).order_by(_u.c.username))
            return [
                UserInfo(
                    r.username, split_names(r.roles), bool(r.disabled), r.created_at, r.updated_at
                )
                for r in rows
            ]

    async def update_user(self, username: str, now: float, **values: object) -> None:
        """Update columns of a user; :class:`UnknownUser` if absent."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                _u.update().where(_u.c.username == username).values(updated_at=now, **values)
            )
        if not result.rowcount:
            raise UnknownUser()

    async def set_hash_if_unchanged(self, username: str, old: str, new: str, now: float) -> None:
        """Replace a password hash after a login re-hash, unless it changed meanwhile."""
        async with self._engine.begin() as conn:
            await conn.execute(
                _u.update()
                .where(_u.c.username == username, _u.c.password_hash == old)
                .values(password_hash=new, updated_at=now)
            )

    async def create_client(
        self,
        client_id: str,
        secret_hash: str,
        scopes: Sequence[str],
        roles: Sequence[str],
        now: float,
    ) -> ClientInfo:
        """Insert a client; :class:`ClientExists` on a duplicate."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    _c.insert().values(
                        client_id=client_id,
                        secret_hash=secret_hash,
                        scopes=join_names(scopes),
                        roles=join_names(roles),
                        created_at=now,
                    )
                )
        except IntegrityError:
            raise ClientExists() from None
        return ClientInfo(client_id, tuple(scopes), tuple(roles), now)

    async def get_client(self, client_id: str) -> ClientRecord | None:
        """The client, or ``None``."""
        async with self._reader.connect() as conn:
            row = (await conn.execute(select(_c).where(_c.c.client_id == client_id))).first()
        if row is None:
            return None
        info = ClientInfo(
            row.client_id, split_names(row.scopes), split_names(row.roles), row.created_at
        )
        return ClientRecord(info, row.secret_hash)

    async def list_clients(self) -> list[ClientInfo]:
        """Every client, by id."""
        async with self._reader.connect() as conn:
            rows = await conn.execute(select(_c).order_by(_c.c.client_id))
            return [
                ClientInfo(r.client_id, split_names(r.scopes), split_names(r.roles), r.created_at)
                for r in rows
            ]

    async def delete_client(self, client_id: str) -> None:
        """Remove a client; :class:`UnknownClient` if absent."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(_c).where(_c.c.client_id == client_id))
        if not result.rowcount:
            raise UnknownClient()
