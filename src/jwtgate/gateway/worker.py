"""One gateway worker: runtime, components, listeners, reload, drain.

A worker builds its own :class:`Runtime`, starts the in-process components,
compiles the policy and runs one HTTP server per listener on sockets bound
by the parent: the lean server (:mod:`jwtgate.gateway.h1server`, the
default) or uvicorn (``gateway.http_server: uvicorn``), both on uvloop and
httptools. Signals: SIGHUP reloads the configuration file (a bad file is
logged and the old policy keeps serving), SIGTERM and SIGINT drain (stop
accepting, finish in-flight requests for up to ``drain_seconds``).
Background ticks pick up key rotations and prune the revocation view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from jwtgate.clock import system_clock
from jwtgate.config import JwtGateConfig, load_config
from jwtgate.config.gateway import ListenerSettings
from jwtgate.errors import ConfigError, JwtGateError
from jwtgate.gateway.app import AdminApp, GatewayApp
from jwtgate.gateway.asgi import ASGIApp
from jwtgate.gateway.compile import compile_gateway
from jwtgate.gateway.h1server import H1Limits, LeanServer
from jwtgate.gateway.state import build_policy, build_resources
from jwtgate.runtime import ComponentFactory, Runtime, build_runtime

__all__ = ["serve_async", "tls_context"]

_log = logging.getLogger("jwtgate.gateway")


class _Serving(Protocol):
    """What the worker needs of an HTTP server (uvicorn's or the lean one)."""

    started: bool
    should_exit: bool
    force_exit: bool

    async def serve(self, sockets: list[socket.socket]) -> None:
        """Serve until ``should_exit``, then drain."""


def tls_context(listener: ListenerSettings, index: int = 0) -> ssl.SSLContext | None:
    """A server TLS context for the listener (TLS 1.2+ per RFC 8996 / RFC 9325)."""
    tls = listener.tls
    if tls is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if tls.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    )
    try:
        ctx.load_cert_chain(str(tls.cert), str(tls.key))
    except (OSError, ssl.SSLError):
        raise ConfigError(
            f"gateway.listeners[{index}].tls: cannot load the certificate or key"
        ) from None
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _extra_headers(listener: ListenerSettings | None) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if listener is not None and listener.tls is not None and listener.tls.hsts is not None:
        hsts = listener.tls.hsts
        value = f"max-age={hsts.max_age}" + (
            "; includeSubDomains" if hsts.include_subdomains else ""
        )
        headers.append(("strict-transport-security", value))
    return headers


def _server(app: ASGIApp, config: JwtGateConfig, listener: ListenerSettings | None) -> _Serving:
    """The configured HTTP server for one listener (``None``: the admin listener)."""
    gw = config.gateway
    if gw.http_server == "uvicorn":
        # Imported here: uvicorn costs every worker several MB of memory.
        from jwtgate.gateway.uvicorn_server import UvicornServer, uvicorn_config

        ssl_context = tls_context(listener) if listener is not None else None
        headers = _extra_headers(listener)
        return UvicornServer(uvicorn_config(app, gw.drain_seconds, ssl_context, headers))
    extra = tuple((n.encode("latin-1"), v.encode("latin-1")) for n, v in _extra_headers(listener))
    return LeanServer(
        app,
        ssl_context=tls_context(listener) if listener is not None else None,
        limits=H1Limits(max_header_bytes=gw.max_header_bytes),
        extra_headers=extra,
        drain_seconds=gw.drain_seconds,
    )


async def _tick(app: GatewayApp, runtime: Runtime, stop: asyncio.Event) -> None:
    applied_seen = runtime.revocation.view.applied
    seconds = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        seconds += 1
        try:
            if runtime.keyring is not None:
                runtime.keyring.reload_if_changed()  # rotations by the auth server or CLI
            policy = app.policy
            policy.auth.reload_files()
            view = runtime.revocation.view
            metrics = app.resources.metrics
            if metrics is not None:
                verifier = policy.auth.verifier
                metrics.cache(verifier.cache_hits, verifier.cache_misses)
                metrics.revocations_applied(view.applied - applied_seen)
            applied_seen = view.applied
            # Lines written in a quiet second would otherwise wait for the next request.
            app.resources.access.flush()
            if seconds % 30 == 0:
                view.prune()
        except (OSError, JwtGateError) as exc:
            _log.warning("periodic refresh failed: %s", type(exc).__name__)


def _interrupt(stop: asyncio.Event, servers: list[_Serving]) -> None:
    """First Ctrl-C drains like SIGTERM; a second one stops without waiting."""
    if stop.is_set():
        for server in servers:
            server.force_exit = True
    stop.set()


async def _reload(app: GatewayApp, runtime: Runtime) -> None:
    path = runtime.config_path
    if path is None:
        _log.warning("reload ignored: the gateway was started without a configuration file")
        return
    try:
        config = load_config(path)
        if not config.data_dir.is_absolute():
            config = config.model_copy(update={"data_dir": runtime.config.data_dir})
        policy = await build_policy(config, runtime, app.resources.metrics)
    except JwtGateError as exc:
        _log.error("reload rejected, keeping the running configuration: %s", exc.description)
        return
    old_gw, new_gw = runtime.config.gateway, config.gateway
    if (old_gw.listeners, old_gw.admin_listener, old_gw.workers) != (
        new_gw.listeners,
        new_gw.admin_listener,
        new_gw.workers,
    ):
        _log.warning("reload: listener and worker changes take effect after a restart")
    old = app.swap(policy)
    runtime.config = config
    await old.close()
    _log.info("configuration reloaded")


async def serve_async(
    config: JwtGateConfig,
    config_path: Path | None,
    factory: ComponentFactory | None,
    sockets: Sequence[socket.socket],
    *,
    admin_socket: socket.socket | None = None,
    ready: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
    signals: bool = True,
) -> None:
    """Run one worker on already-bound sockets until ``stop`` is set or a signal arrives."""
    compiled = compile_gateway(config)
    names = compiled.internal_names
    if names and factory is None:
        raise ConfigError(
            f"gateway.routes: internal://{sorted(names)[0]} needs in-process components"
        )
    stop = stop or asyncio.Event()
    runtime = await build_runtime(config, config_path, system_clock, components=names)
    tasks: list[asyncio.Task[None]] = []
    try:
        if factory is not None and names:
            runtime.components = await factory(runtime, names)
            for component in runtime.components.values():
                await component.start()
        resources = await build_resources(runtime)
        app = GatewayApp(await build_policy(config, runtime, resources.metrics), resources)
        servers = [
            (_server(app, config, li), sock)
            for li, sock in zip(config.gateway.listeners, sockets, strict=True)
        ]
        if admin_socket is not None:
            servers.append((_server(AdminApp(app), config, None), admin_socket))
        loop = asyncio.get_running_loop()
        if signals:
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            loop.add_signal_handler(signal.SIGINT, _interrupt, stop, [s for s, _ in servers])
            loop.add_signal_handler(
                signal.SIGHUP, lambda: tasks.append(loop.create_task(_reload(app, runtime)))
            )
        tasks.extend(loop.create_task(s.serve(sockets=[sock])) for s, sock in servers)
        tasks.append(loop.create_task(_tick(app, runtime, stop)))
        while not all(s.started for s, _ in servers):
            if any(t.done() for t in tasks):
                raise ConfigError("a listener failed to start")
            await asyncio.sleep(0.01)
        app.ready = True
        if ready is not None:
            ready()
        await stop.wait()
        app.ready = False  # readyz turns 503 so load balancers move on while we drain
        for server, _ in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await app.policy.close()
        await resources.close()
    finally:
        for task in tasks:
            task.cancel()
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                asyncio.get_running_loop().remove_signal_handler(sig)
        await runtime.close()
