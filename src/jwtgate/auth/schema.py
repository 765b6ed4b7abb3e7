"""Relational schema of the auth server (SQLAlchemy Core, portable SQLite/PostgreSQL).

Times are floats (seconds since the epoch from the injected clock), so the
same code and tests run on both engines and a frozen clock controls expiry.
Tokens and secrets are never stored: only SHA-256 of refresh tokens (which
carry 256 random bits, so a fast hash is enough; RFC 9700 section 4.14) and
argon2id hashes of passwords and client secrets.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "clients",
    "login_throttle",
    "metadata",
    "refresh_families",
    "refresh_tokens",
    "revocations",
    "schema_version",
    "users",
]

metadata = MetaData()

schema_version = Table(
    "jwtgate_schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("roles", Text, nullable=False, default=""),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("secret_hash", String(256), nullable=False),
    Column("scopes", Text, nullable=False, default=""),
    Column("roles", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)

refresh_families = Table(
    "refresh_families",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("scope", Text, nullable=False, default=""),
    # 0 = tokens in the body, 1 = refresh cookie, 2 = refresh + access cookies
    Column("delivery", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("reason", String(64), nullable=True),
    Index("ix_refresh_families_username", "username"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "family_id",
        String(64),
        ForeignKey("refresh_families.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("parent_hash", String(64), nullable=True),
    # active -> consumed (used once) | revoked (family revoked while active)
    Column("state", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("consumed_at", Float, nullable=True),
    Column("expires_at", Float, nullable=False),
    Index("ix_refresh_tokens_family", "family_id"),
)

revocations = Table(
    "revocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),
    Column("value", String(256), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("not_before", Float, nullable=False, default=0.0),
    Column("created_at", Float, nullable=False),
    Index("ix_revocations_expires", "expires_at"),
    Index("ix_revocations_created", "created_at"),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    # "acct:<user>", "ip:<ip>", "pair:<ip>|<user>"
    Column("key", String(400), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("first_failure_at", Float, nullable=False, default=0.0),
    Column("last_failure_at", Float, nullable=False, default=0.0),
    Column("locked_until", Float, nullable=False, default=0.0),
    Column("lockouts", Integer, nullable=False, default=0),
    Column("trusted_until", Float, nullable=False, default=0.0),
)
