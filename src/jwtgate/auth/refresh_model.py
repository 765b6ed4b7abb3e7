"""Refresh tokens as values: generation, hashing and the records of a family.

Shared by the portable store (:mod:`jwtgate.auth.refresh`), the revocation
and maintenance queries (:mod:`jwtgate.auth.refresh_families`) and the
engine fast paths (:mod:`jwtgate.auth.refresh_sqlite`,
:mod:`jwtgate.auth.refresh_pg`), so none of them imports another for its
types. Refresh tokens are opaque random strings, never JWTs (RFC 8725
section 3.12); the database stores only their SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

__all__ = [
    "Family",
    "Reuse",
    "Rotated",
    "Rotation",
    "hash_token",
    "new_refresh_token",
]

_MAX_TOKEN_CHARS = 512


def new_refresh_token() -> str:
    """A fresh opaque refresh token: 256 bits from the OS CSPRNG, base64url."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of a refresh token (high entropy, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Family:
    """One login session."""

    id: str
    username: str
    client_id: str
    scope: str
    delivery: int
    created_at: float
    expires_at: float
    revoked_at: float | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Rotated:
    """A successful refresh: the family, the successor token and the user's current state."""

    family: Family
    token: str
    expires_at: float
    roles: tuple[str, ...] | None  # None: the user no longer exists
    disabled: bool


@dataclass(frozen=True, slots=True)
class Rotation:
    """What the compare-and-set transaction found (internal to the stores)."""

    won: bool
    family: Family | None
    state: str | None
    consumed_at: float | None
    successor_expires: float
    roles: str | None
    disabled: bool


@dataclass(frozen=True, slots=True)
class Reuse:
    """A consumed token was presented outside the grace window."""

    family: Family


def _family(row: Row[Any]) -> Family:
    return Family(
        row.id,
        row.username,
        row.client_id,
        row.scope,
        int(row.delivery),
        float(row.created_at),
        float(row.expires_at),
        row.revoked_at,
        row.reason,
    )
