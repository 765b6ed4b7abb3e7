"""Hostile review of the auth server: another spelling of the same username.

Runs the user store against real SQLite and PostgreSQL databases.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from jwtgate.auth.errors import InvalidRequest, UserExists
from jwtgate.auth.migrations import migrate
from jwtgate.auth.users import UserStore, check_username

NOW = 1_800_000_000.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file or PostgreSQL database (the real server)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The migrated schema on ``database_url`` (the path every deployment takes)."""
    eng = create_async_engine(database_url)
    await migrate(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


# (vector id / source, second username created after "alice", refused?)
CASE_VECTORS: list[tuple[str, str, bool]] = [
    # Bypass found and fixed: two accounts one letter case apart.
    ("CWE-178 capitalised", "Alice", True),
    ("CWE-178 upper-case", "ALICE", True),
    ("CWE-178 mixed case", "aLiCe", True),
    # Already safe (and now tested).
    ("exact duplicate", "alice", True),
    ("a different name", "alice2", False),
    ("a dotted variant is another name", "a.lice", False),
]


@pytest.mark.parametrize(
    ("vector", "second", "refused"), CASE_VECTORS, ids=[v[0] for v in CASE_VECTORS]
)
async def test_usernames_differing_in_case_are_one_account(
    engine: AsyncEngine, vector: str, second: str, refused: bool
) -> None:
    users = UserStore(engine)
    await users.create_user("alice", "hash-a", ["user"], NOW)
    if refused:
        with pytest.raises(UserExists):
            await users.create_user(second, "hash-b", ["admin"], NOW)
        assert [u.username for u in await users.list_users()] == ["alice"]
    else:
        await users.create_user(second, "hash-b", ["admin"], NOW)
        assert await users.get_user(second) is not None


async def test_concurrent_case_variants_make_one_account(engine: AsyncEngine) -> None:
    # CWE-178 + race: the check-then-insert in create_user could let both pass;
    # the unique index on lower(username) (schema version 2) leaves exactly one.
    users = UserStore(engine)
    names = ["carol", "Carol", "CAROL", "cArOl", "caroL", "CaRoL"]
    results = await asyncio.gather(
        *(users.create_user(n, "hash", ["user"], NOW) for n in names), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, UserExists) for r in results if isinstance(r, BaseException))
    assert len(await users.list_users()) == 1


async def test_case_variant_does_not_log_in_as_the_user(engine: AsyncEngine) -> None:
    # Lookups are exact: "ALICE" is no account, never alice's.
    users = UserStore(engine)
    await users.create_user("alice", "hash-a", ["user"], NOW)
    assert await users.get_user("ALICE") is None


# (vector id / source, username offered at creation)
UNICODE_VECTORS: list[tuple[str, str]] = [
    ("UTS39 fullwidth a (NFKC alice)", "\uff41lice"),
    ("UTS39 Cyrillic a look-alike", "\u0430lice"),
    ("UTS39 zero-width space", "alice\u200b"),
    ("UAX15 combining mark", "alice\u0301"),
    ("CWE-178 dotted capital I", "AL\u0130CE"),
    ("Kelvin sign folds to k", "\u212aate"),
    ("CWE-158 NUL", "alice\x00"),
    ("leading space", " alice"),
    ("trailing newline", "alice\n"),
]


@pytest.mark.parametrize(("vector", "name"), UNICODE_VECTORS, ids=[v[0] for v in UNICODE_VECTORS])
def test_non_ascii_or_invisible_usernames_are_refused(vector: str, name: str) -> None:
    with pytest.raises(InvalidRequest):
        check_username(name)
