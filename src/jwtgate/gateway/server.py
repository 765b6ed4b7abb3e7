"""``serve``: bind the listeners, then run one or several worker processes.

The parent binds every socket before forking, so a port conflict fails once,
clearly, before anything starts. With several workers on Linux each worker
gets its own ``SO_REUSEPORT`` socket per listener and the kernel hashes every
new connection to one of them; elsewhere the workers share one socket. The
parent forwards SIGHUP, SIGTERM and SIGINT to its workers and exits when they
have all finished draining.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvloop

from jwtgate.config import JwtGateConfig
from jwtgate.errors import ConfigError, JwtGateError
from jwtgate.gateway.compile import compile_gateway
from jwtgate.gateway.worker import serve_async, tls_context
from jwtgate.runtime import ComponentFactory

__all__ = ["bind_socket", "check_workers", "serve"]

_log = logging.getLogger("jwtgate.gateway")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def check_workers(config: JwtGateConfig) -> None:
    """Refuse worker counts that would silently break revocation or state."""
    compiled = compile_gateway(config)
    multi = config.gateway.workers > 1
    if multi and config.revocation.backend == "memory" and "auth" in compiled.internal_names:
        # Each worker would have its own in-memory revocation view; a
        # logout handled by one worker would not reach the others.
        raise ConfigError(
            "gateway.workers: more than one worker needs revocation.backend: redis "
            "when the auth server runs in-process"
        )


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket (inheritable, so forked workers share it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def bind_group(host: str, port: int, count: int) -> list[socket.socket]:
    """The listening sockets of ``count`` workers on one address, one per worker.

    With one shared socket the worker that wakes first accepts a whole burst
    of connections: 62 of wrk's 64 landed on one of two workers, which then
    ran at one core while the other idled.  Linux hashes each new connection
    over a ``SO_REUSEPORT`` group instead, as nginx's ``reuseport`` and
    Envoy's listeners do.  Elsewhere (where the option does not balance, or
    does not exist) the workers share one socket.
    """
    if count == 1 or not (sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")):
        return [bind_socket(host, port)] * count
    # A plain bind first: a reuseport bind would silently join another
    # process's group on a port it holds with SO_REUSEPORT (same user).
    probe = bind_socket(host, port)
    port = probe.getsockname()[1]  # port 0: every member takes the one chosen
    probe.close()
    group: list[socket.socket] = []
    try:
        for _ in range(count):
            group.append(bind_socket(host, port, reuse_port=True))
    except ConfigError:
        for sock in group:
            sock.close()
        raise
    return group


def _follow_parent(parent: int) -> None:
    """Have this worker drain and exit when the parent dies (Linux).

    A parent killed outright (SIGKILL, OOM) cannot forward a signal; its
    workers would go on serving with nobody to stop them, holding the port
    so that a restarted gateway cannot bind it. Linux delivers SIGTERM to
    the worker instead (prctl PR_SET_PDEATHSIG), which drains as usual.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _private(group: list[socket.socket]) -> bool:
    """True when each worker has its own socket in ``group`` (a reuseport group)."""
    return len(group) > 1 and group[0] is not group[1]


def _run_worker(
    config: JwtGateConfig,
    config_path: Path | None,
    factory: ComponentFactory | None,
    sockets: list[socket.socket],
    admin: socket.socket | None,
    ready: Callable[[], None] | None,
) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(
            serve_async(config, config_path, factory, sockets, admin_socket=admin, ready=ready)
        )


def _use_multiprocess_metrics() -> str | None:
    """Point prometheus-client at a shared directory so /metrics sums every worker.

    Returns the directory when this call created it (to be removed at exit).
    """
    created = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        created = tempfile.mkdtemp(prefix="jwtgate-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = created
    from prometheus_client import values

    # The value class is chosen at import time; re-choose it now that the
    # directory is set (before any worker creates a metric).
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return created


def _mark_dead(pid: int) -> None:
    # A dead worker's live-gauge files must not count any more
    # (prometheus_client's multiprocess contract).
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def serve(
    config: JwtGateConfig,
    config_path: Path | None,
    factory: ComponentFactory | None = None,
    *,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve the gateway in the foreground until SIGTERM/SIGINT; raises ConfigError early."""
    check_workers(config)
    for index, listener in enumerate(config.gateway.listeners):
        tls_context(listener, index)  # fail before binding when the certificate is unusable
    workers = config.gateway.workers
    # groups[l][w]: listener l's socket for worker w (the same object for all
    # workers when they share it).
    groups = [bind_group(li.host, li.port, workers) for li in config.gateway.listeners]
    admin_cfg = config.gateway.admin_listener
    admin = bind_socket(admin_cfg.host, admin_cfg.port) if admin_cfg is not None else None
    if workers == 1:
        _run_worker(config, config_path, factory, [g[0] for g in groups], admin, ready)
        return
    metrics_dir = _use_multiprocess_metrics()
    children: list[int] = []
    parent = os.getpid()
    for index in range(workers):
        own = [g[index] for g in groups]
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            _follow_parent(parent)
            # Only this worker may hold its group sockets: a dead worker's
            # socket must close, so that the kernel stops queueing on it.
            for g in groups:
                for sock in g:
                    if sock not in own:
                        sock.close()
            code = 0
            try:
                _run_worker(config, config_path, factory, own, admin, None)
            except ConfigError as exc:
                print(f"jwtgate: {exc.description}", file=sys.stderr)
                code = 2
            except JwtGateError as exc:
                # e.g. revocation_unavailable: one clear line, as in a single worker
                print(f"jwtgate: error: {exc.code}: {exc.description}", file=sys.stderr)
                code = 1
            except BaseException:
                _log.exception("worker failed")
                code = 1
            os._exit(code)
        children.append(pid)
        for g in groups:
            if _private(g):
                g[index].close()  # the worker holds it now

    def forward(sig: int, _frame: FrameType | None) -> None:
        # Ctrl-C reaches the workers from the terminal too; relaying it as
        # SIGTERM asks for a drain without counting as a second Ctrl-C.
        relay = signal.SIGTERM if sig == signal.SIGINT else sig
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, relay)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    if ready is not None:
        ready()
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        if pid in children:
            children.remove(pid)
            status = status or os.waitstatus_to_exitcode(code)
            _mark_dead(pid)
    for g in groups:
        if not _private(g):
            g[0].close()
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if status:
        raise SystemExit(status)
