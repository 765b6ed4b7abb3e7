"""Schema migrations: automatic, idempotent, safe under concurrent starts, refuse newer schemas."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from jwtgate.auth.db import create_engine_for
from jwtgate.auth.migrations import SCHEMA_VERSION, migrate
from jwtgate.config import JwtGateConfig
from jwtgate.errors import ConfigError


def _config(tmp_path: Path, url: str | None) -> JwtGateConfig:
    return JwtGateConfig.model_validate({"data_dir": str(tmp_path), "auth": {"database_url": url}})


async def test_concurrent_migrations_apply_once(tmp_path: Path, database_url: str | None) -> None:
    config = _config(tmp_path, database_url)
    engines = [create_engine_for(config) for _ in range(4)]
    try:
        steps = await asyncio.gather(*(migrate(e) for e in engines))
        assert sorted(steps) == [0, 0, 0, SCHEMA_VERSION]
        assert await migrate(engines[0]) == 0  # idempotent
        async with engines[0].connect() as conn:
            rows = (await conn.execute(text("SELECT version FROM jwtgate_schema_version"))).all()
        assert rows == [(SCHEMA_VERSION,)]
    finally:
        for e in engines:
            await e.dispose()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    engine = create_engine_for(_config(tmp_path, None))
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE jwtgate_schema_version SET version = 99"))
        with pytest.raises(ConfigError, match="newer"):
            await migrate(engine)
    finally:
        await engine.dispose()


async def test_sqlite_file_uses_wal(tmp_path: Path) -> None:
    engine = create_engine_for(_config(tmp_path, None))
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
        assert mode == "wal"
        assert (tmp_path / "jwtgate.db").exists()
    finally:
        await engine.dispose()


async def test_sqlite_files_and_directory_are_owner_only(tmp_path: Path) -> None:
    # The database holds argon2 hashes and refresh-token hashes: 0600 / 0700 whatever the umask.
    data_dir = tmp_path / "fresh"
    old_umask = os.umask(0o022)
    try:
        engine = create_engine_for(_config(data_dir, None))
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for path in data_dir.glob("jwtgate.db*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "not a url", "oracle+cx://a/b"], ids=["mysql", "garbage", "oracle"]
)
def test_unsupported_database_urls(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError):
        create_engine_for(_config(tmp_path, url))


def test_settings_validation(tmp_path: Path) -> None:
    from pydantic import ValidationError

    bad: list[dict[str, Any]] = [
        {"refresh_idle_timeout": 10, "refresh_absolute_lifetime": 5},
        {"password_min_length": 4},
        {"user_scopes": ["has space"]},
        {"mount_path": "auth"},
        {"unknown_key": 1},
    ]
    for settings in bad:
        with pytest.raises(ValidationError):
            JwtGateConfig.model_validate({"auth": settings})
