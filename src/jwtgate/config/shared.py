"""Settings shared by the auth server and the gateway."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from jwtgate.config.base import Section

__all__ = ["RedisSettings", "RevocationSettings"]


class RedisSettings(Section):
    """Connection to the Redis server used for shared state at scale."""

    url: str = Field(
        default="redis://127.0.0.1:6379/0", min_length=1, description="Redis connection URL"
    )
    prefix: str = Field(
        default="jwtgate:", min_length=1, description="prefix of every key and channel"
    )


class RevocationSettings(Section):
    """Where revocations are published.

    ``memory`` works only when the auth server and a single gateway worker
    share one process (the demo); ``redis`` keeps every worker's view current
    through pub/sub.
    """

    backend: Literal["memory", "redis"] = Field(
        default="memory", description="`memory` (one process) or `redis` (every worker)"
    )
