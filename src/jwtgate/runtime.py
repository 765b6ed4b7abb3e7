"""Process composition: what one gateway worker process is made of.

Each worker builds one :class:`Runtime` (configuration, clock, revocation
store, the local keyring) and asks a :data:`ComponentFactory` for the
in-process applications that ``internal://NAME`` routes dispatch to. Stores
are chosen by configuration: ``revocation.backend: memory`` keeps the view in
this process (correct only when the auth server runs in the same single
process), ``redis`` keeps every worker's view current through pub/sub.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from jwtgate.clock import Clock, system_clock
from jwtgate.config import JwtGateConfig
from jwtgate.jose import Keyring
from jwtgate.revocation import InMemoryRevocationStore, RevocationStore

__all__ = [
    "ASGIApp",
    "Component",
    "ComponentFactory",
    "Runtime",
    "build_runtime",
    "open_keyring",
    "revocation_store",
]

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]
"""A Starlette-style ASGI application ``(scope, receive, send)``."""


class Component(Protocol):
    """An in-process application reachable as ``internal://NAME``."""

    @property
    def app(self) -> ASGIApp:
        """The ASGI application."""
        ...

    async def start(self) -> None:
        """Open resources (databases, background tasks)."""
        ...

    async def close(self) -> None:
        """Release resources."""
        ...


@dataclass
class Runtime:
    """Everything a worker process shares between the gateway and its components."""

    config: JwtGateConfig
    config_path: Path | None
    clock: Clock
    revocation: RevocationStore
    keyring: Keyring | None
    components: dict[str, Component] = field(default_factory=dict)

    async def close(self) -> None:
        """Close components (reverse order of start), then the revocation store."""
        for component in reversed(list(self.components.values())):
            await component.close()
        await self.revocation.close()


ComponentFactory = Callable[[Runtime, frozenset[str]], Awaitable[dict[str, Component]]]
"""Builds the components named by the routes (e.g. ``auth``, ``echo``, ``console``)."""


def open_keyring(
    config: JwtGateConfig,
    *,
    create: bool,
    clock: Clock = system_clock,
    algorithm: str | None = None,
) -> Keyring:
    """The local issuer's keyring in ``config.data_dir``, set up from ``config.tokens``."""
    tokens = config.tokens
    return Keyring.open(
        config.data_dir,
        algorithm=algorithm or tokens.algorithm,
        rsa_bits=tokens.rsa_bits,
        # A verify-only key must outlive every token it signed (RFC 7517 rotation).
        retain_seconds=float(tokens.max_ttl + tokens.leeway),
        clock=clock,
        create=create,
    )


def revocation_store(config: JwtGateConfig, clock: Clock = system_clock) -> RevocationStore:
    """The revocation store ``config.revocation.backend`` names (not yet started)."""
    if config.revocation.backend == "redis":
        from jwtgate.revocation.redis import RedisRevocationStore

        return RedisRevocationStore(config.redis.url, prefix=config.redis.prefix, clock=clock)
    return InMemoryRevocationStore(clock)


async def build_runtime(
    config: JwtGateConfig,
    config_path: Path | None,
    clock: Clock = system_clock,
    *,
    components: frozenset[str] = frozenset(),
) -> Runtime:
    """Open the stores of one worker and start the revocation store.

    The keyring in ``config.data_dir`` is opened when an issuer uses it or an
    ``auth`` component will run here; only then may it be created (a gateway
    alone must not invent keys its issuer never uses).
    """
    from jwtgate.gateway.compile import compile_gateway

    compiled = compile_gateway(config)
    keyring = None
    if compiled.uses_keyring or "auth" in components:
        keyring = open_keyring(config, create="auth" in components, clock=clock)
    revocation = revocation_store(config, clock)
    await revocation.start()
    return Runtime(config, config_path, clock, revocation, keyring)
