"""The auth server's stores and shared services, wired once from configuration."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from jwtgate.auth.audit import AuditLog
from jwtgate.auth.db import create_engine_for, readonly, sqlite_path
from jwtgate.auth.login_pg import login_rows_postgres
from jwtgate.auth.migrations import migrate
from jwtgate.auth.passwords import PasswordPolicy, Passwords
from jwtgate.auth.refresh import RefreshStore
from jwtgate.auth.refresh_sqlite import SqliteRotator
from jwtgate.auth.revocations import RevocationLog
from jwtgate.auth.throttle import Throttle, throttle_keys
from jwtgate.auth.users import USERNAME_MAX, UserRecord, UserStore, record_from_row
from jwtgate.clock import Clock, system_clock
from jwtgate.config import JwtGateConfig
from jwtgate.revocation import RevocationEvent, RevocationKind, RevocationStore

__all__ = ["AuthCore"]


class AuthCore:
    """Engine, stores, password hasher, audit log and revocation log of one process."""

    def __init__(
        self,
        config: JwtGateConfig,
        *,
        clock: Clock = system_clock,
        revocation: RevocationStore | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        settings = config.auth
        self.engine: AsyncEngine = create_engine_for(config)
        self.reader: AsyncEngine = readonly(self.engine)
        self.users = UserStore(self.engine)
        sqlite_file = sqlite_path(self.engine)
        self._fast = SqliteRotator(sqlite_file) if sqlite_file is not None else None
        self.fast_path = True
        """Engine-specific one-hop login reads (False: the portable reference path)."""
        self.refresh = RefreshStore(
            self.engine,
            idle_timeout=settings.refresh_idle_timeout,
            absolute_lifetime=settings.refresh_absolute_lifetime,
            grace=settings.refresh_grace_seconds,
            fast=self._fast,
        )
        self.throttle = Throttle(self.engine, settings.throttle)
        self.revlog = RevocationLog(self.engine, revocation)
        self.audit = AuditLog(
            Path(config.data_dir) / "audit.jsonl", keep=settings.audit_memory, clock=clock
        )
        self.passwords = Passwords(settings.argon2)
        self.policy = PasswordPolicy(settings.password_min_length, settings.password_max_length)

    async def login_state(
        self, username: str, ip: str, now: float
    ) -> tuple[bool, UserRecord | None]:
        """Throttle verdict (see :meth:`Throttle.check`) and the user, from one snapshot.

        Names longer than a username can be are never looked up (the caller
        still verifies the dummy hash, so the response is the same).
        """
        keys = throttle_keys(username, ip)
        lookup = len(username) <= USERNAME_MAX
        name = username if lookup else ""
        if self.fast_path and self._fast is not None:
            rows, row = await self._fast.login_rows(keys, name)
        elif self.fast_path and self.engine.dialect.name == "postgresql":
            rows, row = await login_rows_postgres(self.reader, keys, name)
        else:
            async with self.reader.connect() as conn:
                clean = await self.throttle.check(username, ip, now, conn=conn)
                record = await self.users.get_user(username, conn=conn) if lookup else None
            return clean, record
        clean = self.throttle.evaluate(keys, rows, now)
        return clean, record_from_row(row) if row is not None else None

    @property
    def revocation_horizon(self) -> float:
        """Seconds after which every access token issued now has expired (max TTL + leeway)."""
        return float(self.config.tokens.max_ttl + self.config.tokens.leeway)

    async def start(self) -> None:
        """Migrate the schema (safe under concurrent starts)."""
        await migrate(self.engine)

    async def close(self) -> None:
        """Release connections and the audit file."""
        if self._fast is not None:
            await self._fast.close()
        await self.engine.dispose()
        self.passwords.close()
        self.audit.close()

    async def revoke_family(self, family_id: str, reason: str) -> bool:
        """Revoke a refresh family and, through a ``sid`` event, its access tokens."""
        now = self.clock()
        changed = await self.refresh.revoke_family(family_id, now, reason)
        await self.revlog.record(
            RevocationEvent(RevocationKind.SID, family_id, now + self.revocation_horizon), now
        )
        self.audit.emit("revocation", kind="sid", family=family_id, reason=reason)
        return changed

    async def revoke_subject(self, subject: str, reason: str) -> list[str]:
        """Revoke every family of ``subject`` and every token it was issued before now."""
        now = self.clock()
        families = await self.refresh.revoke_user(subject, now, reason)
        for family_id in families:
            await self.revlog.record(
                RevocationEvent(RevocationKind.SID, family_id, now + self.revocation_horizon), now
            )
        # iat has one-second resolution (RFC 7519 NumericDate); tokens minted in this
        # same second are refused too, so nothing issued before the call survives it.
        not_before = float(int(now) + 1)
        await self.revlog.record(
            RevocationEvent(RevocationKind.SUB, subject, now + self.revocation_horizon, not_before),
            now,
        )
        self.audit.emit(
            "revocation", kind="sub", sub=subject, families=len(families), reason=reason
        )
        return families

    async def revoke_jti(self, jti: str, expires_at: float | None, reason: str) -> None:
        """Revoke one access token until ``expires_at`` (default: the longest possible TTL)."""
        now = self.clock()
        until = expires_at if expires_at is not None else now + self.revocation_horizon
        await self.revlog.record(RevocationEvent(RevocationKind.JTI, jti, until), now)
        self.audit.emit("revocation", kind="jti", jti=jti, reason=reason)
