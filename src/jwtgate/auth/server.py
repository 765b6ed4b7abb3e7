"""The auth server component: wiring, background tasks, standalone serving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Protocol

from starlette.types import ASGIApp

from jwtgate.auth.admin import AuthAdmin
from jwtgate.auth.app import ErrorCounter, create_app
from jwtgate.auth.context import RouteContext
from jwtgate.auth.cookies import SessionCookies
from jwtgate.auth.core import AuthCore
from jwtgate.auth.service import TokenService
from jwtgate.clock import Clock, system_clock
from jwtgate.config import JwtGateConfig
from jwtgate.config.gateway import is_loopback_host
from jwtgate.errors import ConfigError
from jwtgate.jose import AccessTokenMinter, IssuerPolicy, Keyring, Verifier
from jwtgate.revocation import RevocationStore

__all__ = ["AuthServer", "serve_standalone"]

_log = logging.getLogger("jwtgate.auth")
_PRUNE_EVERY = 300  # background ticks between prunes of expired rows


class AuthServer:
    """The auth server: a FastAPI app under ``auth.mount_path`` plus its stores.

    ``start`` migrates the schema, replays live revocations from the database
    into the revocation store and starts the background task (revocation-table
    poll, key reload and scheduled rotation, pruning).
    """

    def __init__(
        self,
        config: JwtGateConfig,
        *,
        keyring: Keyring,
        revocation: RevocationStore,
        clock: Clock = system_clock,
    ) -> None:
        tokens = config.tokens
        self.config = config
        self.keyring = keyring
        self.revocation = revocation
        self.clock = clock
        self.core = AuthCore(config, clock=clock, revocation=revocation)
        self.admin = AuthAdmin(self.core)
        minter = AccessTokenMinter(
            keyring,
            issuer=tokens.issuer,
            audience=tokens.audience,
            default_ttl=tokens.access_ttl,
            max_ttl=tokens.max_ttl,
            clock=clock,
        )
        policy = IssuerPolicy(
            tokens.issuer,
            frozenset({tokens.audience}),
            frozenset({tokens.algorithm}),
            keyring,
            leeway=float(tokens.leeway),
            max_lifetime=float(tokens.max_ttl),
            max_token_bytes=tokens.max_token_bytes,
        )
        verifier = Verifier(
            [policy], clock=clock, cache_size=tokens.cache_size, revocation=revocation.view
        )
        self.service = TokenService(self.core, keyring, minter, verifier)
        self.errors = ErrorCounter()
        context = RouteContext(
            config, self.core, self.service, keyring, SessionCookies(config.auth.cookies)
        )
        self.app = create_app(context, self.errors)
        self._task: asyncio.Task[None] | None = None
        self._ticks = 0
        self._active_kid = keyring.active.kid

    async def start(self) -> None:
        """Migrate, load live revocations, start background work."""
        await self.core.start()
        await self.core.revlog.load(self.clock())
        if self._task is None:
            self._task = asyncio.create_task(self._background(), name="jwtgate-auth-background")

    async def poll_once(self) -> None:
        """One background tick (tests call it directly instead of waiting)."""
        now = self.clock()
        await self.core.revlog.poll(now)
        self.keyring.reload_if_changed()
        interval = self.config.tokens.rotation_interval
        scheduled = interval is not None and self.keyring.maybe_rotate(interval)
        kid = self.keyring.active.kid
        if kid != self._active_kid:
            # Scheduled here, or done by `jwtgate keys rotate` and picked up by the reload.
            self.core.audit.emit(
                "key_rotation", kid=kid, previous=self._active_kid, scheduled=scheduled
            )
            self._active_kid = kid
        self._ticks += 1
        if self._ticks % _PRUNE_EVERY == 0:
            await self.core.throttle.prune(now)
            await self.core.revlog.prune(now)
            await self.core.refresh.prune(now)

    async def _background(self) -> None:
        while True:
            await asyncio.sleep(self.config.auth.revocation_poll_interval)
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Keep polling: a database blip must not stop revocations arriving.
                _log.exception("auth background tick failed")

    async def close(self) -> None:
        """Stop background work and release the database."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.core.close()


def _listen_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _Serving(Protocol):
    should_exit: bool

    async def serve(self, sockets: list[socket.socket]) -> None: ...


def _http_server(app: ASGIApp, config: JwtGateConfig) -> _Serving:
    if config.gateway.http_server == "uvicorn":
        import uvicorn

        return uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                # X-Forwarded-For is honoured by auth.trust_forwarded_for alone.
                proxy_headers=False,
                server_header=False,
            )
        )
    from jwtgate.gateway.h1server import LeanServer

    return LeanServer(app, drain_seconds=config.gateway.drain_seconds)


async def serve_standalone(
    config: JwtGateConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8081,
    clock: Clock = system_clock,
    reuse_port: bool = False,
) -> None:
    """Run the auth server alone until cancelled (``jwtgate serve auth``).

    The HTTP server is the one ``gateway.http_server`` names for every jwtgate
    listener: the lean HTTP/1.1 server by default (head and body leave in one
    write; about half of uvicorn's CPU per request), or uvicorn.
    With ``reuse_port`` (Linux ``SO_REUSEPORT``) several processes may serve the
    same port, the kernel spreading connections between them; they share the
    database and keys (and, with ``revocation.backend: redis``, revocations).
    """
    from jwtgate.runtime import open_keyring, revocation_store

    cookies = config.auth.cookies
    if not cookies.secure and not cookies.demo_on_network and not is_loopback_host(host):
        raise ConfigError(
            f"auth.cookies.secure: false is only allowed on loopback; --host is {host!r}"
        )
    keyring = open_keyring(config, create=True, clock=clock)
    store = revocation_store(config, clock)
    await store.start()
    server = AuthServer(config, keyring=keyring, revocation=store, clock=clock)
    try:
        await server.start()
        http = _http_server(server.app, config)
        sockets = [_listen_socket(host, port, reuse_port)]
        serving = asyncio.ensure_future(http.serve(sockets=sockets))
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            # Shut the HTTP server down properly so its sockets close, then propagate.
            http.should_exit = True
            await serving
            raise
    finally:
        await server.close()
        await store.close()
