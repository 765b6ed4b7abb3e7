"""Revocation: what the auth server revokes, the gateway refuses, with no per-request I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jwtgate.revocation.base import (
    RevocationEvent,
    RevocationKind,
    RevocationStore,
    RevocationView,
)
from jwtgate.revocation.memory import InMemoryRevocationStore

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    # redis-py and the telemetry modules it loads cost every process several MB
    # of memory; only a deployment with ``revocation.backend: redis`` pays it.
    if name in ("RedisRevocationStore", "RevocationStoreUnavailable"):
        from jwtgate.revocation import redis

        return getattr(redis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
