"""The component factory: builds the ``internal://`` applications a configuration names.

Used by ``jwtgate serve`` and ``jwtgate demo`` (see ``docs/architecture.md``,
"Process composition"). Each gateway worker calls it once with its runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jwtgate.errors import ConfigError

if TYPE_CHECKING:
    from jwtgate.runtime import Component, Runtime

__all__ = ["KNOWN_COMPONENTS", "build_components"]

KNOWN_COMPONENTS = frozenset({"auth", "echo", "console"})
"""Names that may follow ``internal://`` in a route's upstream."""


async def build_components(runtime: Runtime, names: frozenset[str]) -> dict[str, Component]:
    """Create the components named by the routes (not yet started).

    ``auth`` shares the runtime's keyring and revocation store, so a logout
    reaches this worker's gateway view directly.
    """
    unknown = sorted(names - KNOWN_COMPONENTS)
    if unknown:
        raise ConfigError(
            f"gateway.routes: unknown internal upstream(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(KNOWN_COMPONENTS))}"
        )
    components: dict[str, Component] = {}
    if "auth" in names:
        from jwtgate.auth import AuthServer

        if runtime.keyring is None:
            raise ConfigError("internal://auth needs the local keyring (tokens, data_dir)")
        components["auth"] = AuthServer(
            runtime.config,
            keyring=runtime.keyring,
            revocation=runtime.revocation,
            clock=runtime.clock,
        )
    if "echo" in names:
        from jwtgate.demo.echo import EchoUpstream

        components["echo"] = EchoUpstream()
    if "console" in names:
        from jwtgate.demo.console import ConsoleApp

        components["console"] = ConsoleApp(runtime.keyring)
    return components
