"""What a worker's gateway holds: long-lived resources and the swappable policy.

:class:`Resources` live as long as the worker (connection pool, rate limiter,
metrics, access log, counters). :class:`Policy` is everything derived from
the configuration file; SIGHUP builds a new one off to the side and swaps a
single reference, so each request sees either the old policy or the new one,
never a mix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jwtgate.config import JwtGateConfig
from jwtgate.gateway.accesslog import AccessLogger
from jwtgate.gateway.authenticate import Authenticator
from jwtgate.gateway.compile import CompiledGateway, compile_gateway
from jwtgate.gateway.metrics import GatewayMetrics
from jwtgate.gateway.proxy import Upstream
from jwtgate.gateway.ratelimit import RateLimiter, build_rate_limiter
from jwtgate.gateway.stats import GatewayStats
from jwtgate.jose import VerifiedToken
from jwtgate.runtime import Runtime

__all__ = ["Policy", "Resources", "build_policy", "build_resources"]


@dataclass
class Resources:
    """Per-worker resources that survive configuration reloads."""

    runtime: Runtime
    upstream: Upstream
    limiter: RateLimiter
    metrics: GatewayMetrics | None
    access: AccessLogger
    stats: GatewayStats = field(default_factory=GatewayStats)

    def __post_init__(self) -> None:
        if self.metrics is not None:
            # Requests are counted once per request, in the stats' table.
            self.metrics.follow(self.stats.counts)

    async def close(self) -> None:
        """Release the pool and the limiter's connections."""
        await self.upstream.close()
        close = getattr(self.limiter, "close", None)
        if close is not None:
            await close()
        self.access.flush()
        if self.metrics is not None:
            self.metrics.flush()  # per-request tallies are batched; keep the last ones


@dataclass
class Policy:
    """The compiled configuration and the verifier built from it."""

    config: JwtGateConfig
    compiled: CompiledGateway
    auth: Authenticator
    round_robin: list[int]
    identity: dict[tuple[int, int], tuple[VerifiedToken, list[tuple[bytes, bytes]]]] = field(
        default_factory=dict
    )

    async def close(self) -> None:
        """Stop the policy's key-source refreshers."""
        await self.auth.close()


async def build_policy(
    config: JwtGateConfig, runtime: Runtime, metrics: GatewayMetrics | None = None
) -> Policy:
    """Compile ``config`` and start its key sources (raises ConfigError)."""
    compiled = compile_gateway(config)
    missing = compiled.internal_names - set(runtime.components)
    if missing:
        from jwtgate.errors import ConfigError

        raise ConfigError(f"gateway.routes: no in-process component named {sorted(missing)[0]}")
    auth = Authenticator(
        compiled.issuers,
        keyring=runtime.keyring,
        revocation=runtime.revocation.view,
        clock=runtime.clock,
        cache_size=config.tokens.cache_size,
        max_token_bytes=config.tokens.max_token_bytes,
        on_jwks_fetch=metrics.jwks_fetch if metrics is not None else None,
    )
    await auth.start()
    return Policy(config, compiled, auth, [0] * len(compiled.routes))


async def build_resources(runtime: Runtime) -> Resources:
    """Open the worker's pool, limiter, metrics and access log."""
    config = runtime.config
    upstream = Upstream()
    await upstream.start()
    return Resources(
        runtime=runtime,
        upstream=upstream,
        limiter=build_rate_limiter(config, runtime.clock),
        metrics=GatewayMetrics() if config.gateway.metrics else None,
        access=AccessLogger(enabled=config.gateway.access_log),
    )
