"""Fixtures for the auth server tests: a real database (SQLite file or PostgreSQL) and the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jwtgate.auth import AuthServer
from jwtgate.clock import FrozenClock
from jwtgate.config import JwtGateConfig
from jwtgate.jose import Keyring, decode_unverified
from jwtgate.revocation import InMemoryRevocationStore

# Cheap argon2id parameters: the policy and flows are what these tests check;
# one test in test_auth_passwords.py uses the real OWASP defaults.
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
ALICE = ("alice", "correct-horse-battery")
BOB = ("bob", "bob-the-builder-42")
BASE_URL = "https://auth.test"


def make_config(data_dir: Path, database_url: str | None, **auth: Any) -> JwtGateConfig:
    """A configuration for tests; ``auth`` overrides auth settings."""
    settings: dict[str, Any] = {"argon2": CHEAP_ARGON2, "database_url": database_url}
    settings.update(auth)
    return JwtGateConfig.model_validate(
        {
            "data_dir": str(data_dir),
            "tokens": {"issuer": "https://auth.test/auth", "audience": "api"},
            "auth": settings,
        }
    )


class Harness:
    """One running auth server with an HTTP client bound to it in-process."""

    def __init__(self, config: JwtGateConfig, clock: FrozenClock) -> None:
        self.config = config
        self.clock = clock
        self.store = InMemoryRevocationStore(clock)
        self.keyring = Keyring.open(
            config.data_dir, algorithm="ES256", retain_seconds=3630, clock=clock
        )
        self.server = AuthServer(config, keyring=self.keyring, revocation=self.store, clock=clock)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.server.app), base_url=BASE_URL
        )

    @property
    def admin(self) -> Any:
        """The admin API of the server."""
        return self.server.admin

    async def start(self) -> None:
        """Start the server and seed alice and bob."""
        await self.server.start()
        await self.admin.add_user(*ALICE, roles=["admin", "user"])
        await self.admin.add_user(*BOB, roles=["user"])

    async def close(self) -> None:
        """Stop everything."""
        await self.client.aclose()
        await self.server.close()

    async def login(
        self, username: str = ALICE[0], password: str = ALICE[1], **extra: Any
    ) -> httpx.Response:
        """POST /auth/login."""
        return await self.client.post(
            "/auth/login", json={"username": username, "password": password, **extra}
        )

    async def tokens(self, username: str = ALICE[0], password: str = ALICE[1]) -> dict[str, Any]:
        """Log in and return the token response body (asserting success)."""
        response = await self.login(username, password)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def refresh(self, token: str, **extra: str) -> httpx.Response:
        """POST /auth/token grant_type=refresh_token."""
        return await self.client.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra}
        )

    def revoked(self, access_token: str) -> bool:
        """Whether the gateway-side view refuses this (otherwise valid) access token."""
        _, claims = decode_unverified(access_token)
        return self.store.view.is_revoked_claims(claims)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` (the default SQLite file) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    # A sync fixture, so the async pg_database fixture can be requested lazily.
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture
def clock() -> FrozenClock:
    """A frozen clock at a whole second."""
    return FrozenClock(1_800_000_000.0)


@pytest.fixture
async def make_harness(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Any]:
    """Factory: ``await make_harness(database_url=None, seed=True, **auth_settings)``.

    Harnesses made with the same ``name`` share one data directory (a second
    auth instance on the same database and keys).
    """
    made: list[Harness] = []

    async def make(
        database_url: str | None = None, *, seed: bool = True, name: str = "h", **auth: Any
    ) -> Harness:
        h = Harness(make_config(tmp_path / name, database_url, **auth), clock)
        made.append(h)
        if seed:
            await h.start()
        else:
            await h.server.start()
        return h

    try:
        yield make
    finally:
        for h in reversed(made):
            await h.close()


@pytest.fixture
async def harness(
    tmp_path: Path, database_url: str | None, clock: FrozenClock
) -> AsyncIterator[Harness]:
    """A started auth server on SQLite and on PostgreSQL, with alice and bob."""
    h = Harness(make_config(tmp_path, database_url, refresh_grace_seconds=2.0), clock)
    await h.start()
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
async def sqlite_harness(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Harness]:
    """Like ``harness`` but SQLite only: for behaviour that never reaches the database
    engine (HTTP parsing, cookie flags, discovery), to keep the suite fast."""
    h = Harness(make_config(tmp_path, None, refresh_grace_seconds=2.0), clock)
    await h.start()
    try:
        yield h
    finally:
        await h.close()
