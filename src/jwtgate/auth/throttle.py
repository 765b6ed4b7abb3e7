"""Brute-force protection for password logins, shared by every auth instance via the DB.

Design (OWASP Authentication Cheat Sheet, "Account Lockout"; NIST SP 800-63B
section 5.2.2 "Rate Limiting"):

* **(account, ip) pair - hard lockout.** After ``pair_max_failures`` failures
  within ``window`` the pair is locked for ``lockout_base`` seconds, doubling
  with each further lockout up to ``lockout_max``. This stops a single
  attacker guessing one account, but locks only the attacker's address.
* **ip - hard lockout.** After ``ip_max_failures`` failures across any
  accounts the address is locked the same way (password spraying).
* **account - soft delay only, capped.** After ``account_soft_threshold``
  failures from anywhere, each further attempt on the account must wait
  ``2 ** (failures - threshold)`` seconds after the previous failure, capped
  at ``account_max_delay``. It is never a lockout, and it does not apply at
  all to an address from which the account logged in successfully within
  ``trusted_pair_seconds``. So a distributed attacker is slowed to one guess
  per ``account_max_delay`` per account, yet cannot lock the real user out:
  from their usual address they are unaffected, from a new one they wait at
  most ``account_max_delay`` seconds.

The state lives in the ``login_throttle`` table and is updated with atomic
upserts, so concurrent failures on several instances are all counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jwtgate.auth.db import reading, readonly
from jwtgate.auth.errors import TooManyAttempts
from jwtgate.auth.schema import login_throttle as _t
from jwtgate.config.auth import ThrottleSettings

__all__ = ["Lockout", "Throttle", "ThrottleRow", "throttle_keys"]


@dataclass(frozen=True, slots=True)
class Lockout:
    """A lockout that a failure just triggered (for the audit log)."""

    scope: str  # "pair" or "ip"
    seconds: float


def _safe(value: str, limit: int) -> str:
    # Keys must fit the column and be storable on every engine (no NUL, no lone
    # surrogates); anything else is replaced by a digest, which still throttles it.
    if len(value) <= limit and value.isprintable() and value.isascii():
        return value
    return "#" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class ThrottleRow(NamedTuple):
    """The columns of a ``login_throttle`` row that a check reads."""

    key: str
    failures: int
    last_failure_at: float
    locked_until: float
    lockouts: int
    trusted_until: float


def throttle_keys(username: str, ip: str) -> tuple[str, str, str]:
    """The pair, IP and account keys of one attempt."""
    user, addr = _safe(username.lower(), 128), _safe(ip, 64)
    return f"pair:{addr}|{user}", f"ip:{addr}", f"acct:{user}"


def _insert(conn: AsyncConnection) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(_t)


class Throttle:
    """Login throttling; every method takes ``now`` from the caller's clock."""

    def __init__(self, engine: AsyncEngine, settings: ThrottleSettings) -> None:
        self._engine = engine
        self._reader = readonly(engine)
        self._s = settings

    async def check(
        self, username: str, ip: str, now: float, *, conn: AsyncConnection | None = None
    ) -> bool:
        """Raise :class:`TooManyAttempts` if this attempt must not be evaluated now.

        Returns True when a success needs no write afterwards: no failures are
        counted for the pair or the account, and the pair's trust has more than
        half its period left (so a returning user's login costs no extra commit).
        """
        keys = throttle_keys(username, ip)
        async with reading(self._reader, conn) as c:
            rows = await c.execute(
                select(
                    _t.c.key,
                    _t.c.failures,
                    _t.c.last_failure_at,
                    _t.c.locked_until,
                    _t.c.lockouts,
                    _t.c.trusted_until,
                ).where(_t.c.key.in_(keys))
            )
            return self.evaluate(keys, [tuple(r) for r in rows], now)

    def evaluate(
        self, keys: tuple[str, str, str], found: Iterable[Sequence[Any]], now: float
    ) -> bool:
        """:meth:`check` on rows already read (columns in :class:`ThrottleRow` order)."""
        pair_key, ip_key, acct_key = keys
        rows = {r.key: r for r in map(ThrottleRow._make, found)}
        waits = [0.0]
        for key in (pair_key, ip_key):
            row = rows.get(key)
            if row is not None and row.locked_until > now:
                waits.append(row.locked_until - now)
        pair, acct = rows.get(pair_key), rows.get(acct_key)
        trusted = pair is not None and pair.trusted_until > now
        if acct is not None and not trusted and acct.last_failure_at > now - self._s.window:
            over = acct.failures - self._s.account_soft_threshold
            if over >= 0:
                delay = min(float(self._s.account_max_delay), 2.0**over)
                waits.append(acct.last_failure_at + delay - now)
        wait = max(waits)
        if wait > 0:
            raise TooManyAttempts(wait)
        return (
            pair is not None
            and pair.failures == 0
            and pair.lockouts == 0
            and pair.trusted_until > now + self._s.trusted_pair_seconds / 2
            and (acct is None or acct.failures == 0)
        )

    async def _bump(self, conn: AsyncConnection, key: str, now: float) -> tuple[int, int]:
        stale = _t.c.first_failure_at < now - self._s.window
        stmt = (
            _insert(conn)
            .values(key=key, failures=1, first_failure_at=now, last_failure_at=now)
            .on_conflict_do_update(
                index_elements=[_t.c.key],
                set_={
                    "failures": case((stale, 1), else_=_t.c.failures + 1),
                    "first_failure_at": case((stale, now), else_=_t.c.first_failure_at),
                    "last_failure_at": now,
                },
            )
            .returning(_t.c.failures, _t.c.lockouts)
        )
        row = (await conn.execute(stmt)).one()
        return int(row[0]), int(row[1])

    async def _lock(self, conn: AsyncConnection, key: str, lockouts: int, now: float) -> float:
        seconds = float(min(self._s.lockout_max, self._s.lockout_base * 2 ** min(lockouts, 30)))
        await conn.execute(
            _t.update()
            .where(_t.c.key == key)
            .values(locked_until=now + seconds, lockouts=lockouts + 1, failures=0)
        )
        return seconds

    async def record_failure(self, username: str, ip: str, now: float) -> list[Lockout]:
        """Count a failed attempt; returns the lockouts it triggered."""
        pair_key, ip_key, acct_key = throttle_keys(username, ip)
        out: list[Lockout] = []
        async with self._engine.begin() as conn:
            failures, lockouts = await self._bump(conn, pair_key, now)
            if failures >= self._s.pair_max_failures:
                out.append(Lockout("pair", await self._lock(conn, pair_key, lockouts, now)))
            failures, lockouts = await self._bump(conn, ip_key, now)
            if failures >= self._s.ip_max_failures:
                out.append(Lockout("ip", await self._lock(conn, ip_key, lockouts, now)))
            await self._bump(conn, acct_key, now)
        return out

    async def record_success(self, username: str, ip: str, now: float) -> None:
        """Clear the pair and account counters and trust this address for the account."""
        pair_key, _, acct_key = throttle_keys(username, ip)
        trusted = now + self._s.trusted_pair_seconds
        async with self._engine.begin() as conn:
            await conn.execute(
                _insert(conn)
                .values(key=pair_key, trusted_until=trusted)
                .on_conflict_do_update(
                    index_elements=[_t.c.key],
                    set_={
                        "failures": 0,
                        "lockouts": 0,
                        "locked_until": 0.0,
                        "trusted_until": trusted,
                    },
                )
            )
            await conn.execute(_t.update().where(_t.c.key == acct_key).values(failures=0))

    async def prune(self, now: float) -> int:
        """Delete rows that no longer influence any decision."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(_t).where(
                    _t.c.last_failure_at < now - self._s.window,
                    _t.c.locked_until < now,
                    _t.c.trusted_until < now,
                )
            )
        return int(result.rowcount or 0)
