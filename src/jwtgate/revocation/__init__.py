"""Revocation: what the auth server revokes, the gateway refuses, with no per-request I/O."""

from __future__ import annotations

from jwtgate.revocation.base import (
    RevocationEvent,
    RevocationKind,
    RevocationStore,
    RevocationView,
)
from jwtgate.revocation.memory import InMemoryRevocationStore
from jwtgate.revocation.redis import RedisRevocationStore, RevocationStoreUnavailable

__all__ = [
    "InMemoryRevocationStore",
    "RedisRevocationStore",
    "RevocationEvent",
    "RevocationKind",
    "RevocationStore",
    "RevocationStoreUnavailable",
    "RevocationView",
]
