"""The fast lane: a proxied request without a task, driven by callbacks.

Most requests a gateway sees are the same shape: no body, a URL upstream, a
token the cache already verified, an in-process rate limiter. For those the
lean server calls :class:`Lane` right after parsing the head. It runs the
pipeline's stages synchronously (they are the same functions the ASGI path
runs, in the same order), writes the request on an idle pooled upstream
connection and returns; once the connection's parser is done with the
response's bytes, the connection calls :class:`_Exchange`, which writes the
response to the client.

No task, coroutine or future is created for such a request. Anything else
goes the ASGI way: before the pipeline has an effect (a preflight, a CORS
or in-process route, HEAD, a body, an unknown ``kid`` whose key source must
be refreshed, a remote rate limiter), :class:`Lane` declines and the server
starts the usual task; after it (no idle connection, a streamed response, a
retry), the request continues in a task from where it stands.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from jwtgate.errors import JwtGateError, UnknownKeyId
from jwtgate.gateway.client import Connection
from jwtgate.gateway.compile import CompiledRoute
from jwtgate.gateway.dispatch import send_simple, upstream_headers, upstream_where
from jwtgate.gateway.errors import BadGateway, GatewayTimeout
from jwtgate.gateway.frontmemo import FrontMemo, front_token, upstream_request
from jwtgate.gateway.h1cycle import Cycle
from jwtgate.gateway.h1wire import where
from jwtgate.gateway.limit import check_rate_now
from jwtgate.gateway.outcome import Outcome
from jwtgate.gateway.pipeline import (
    authenticate,
    complete,
    dry_run,
    extract_token,
    front,
    record,
    refusal,
)
from jwtgate.gateway.ratelimit import MemoryRateLimiter
from jwtgate.gateway.state import Resources
from jwtgate.jose import VerifiedToken

if TYPE_CHECKING:
    from jwtgate.gateway.app import GatewayApp

__all__ = ["Lane"]

_log = logging.getLogger("jwtgate.gateway")
_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "OPTIONS", "TRACE"})
_OWN_PATHS = frozenset({"/healthz", "/readyz"})  # answered by GatewayApp itself


class Lane:
    """Takes a request the fast lane can carry; ``take(cycle)`` is False otherwise."""

    __slots__ = ("_app",)

    def __init__(self, app: GatewayApp) -> None:
        self._app = app

    def take(self, cycle: Cycle) -> bool:
        """Handle ``cycle`` (True) or leave it untouched for the ASGI path (False)."""
        if not cycle.body_done or cycle.conn.write_waiter is not None:
            return False  # a body to stream, or a client that is not reading
        scope = cycle.scope
        method: str = scope["method"]
        path: str = scope["path"]
        if method == "HEAD" or path in _OWN_PATHS:
            return False
        app = self._app
        policy, res = app.policy, app.resources
        limiter = res.limiter
        if not isinstance(limiter, MemoryRateLimiter):
            return False
        # The outcome is also the exchange that awaits the upstream response:
        # one object a request, not two.
        out = _Exchange()
        repeated: FrontMemo | None = None
        try:
            if cycle.repeated:
                # The same bytes as a request before on this connection: the
                # front stages' results may be kept (jwtgate.gateway.frontmemo).
                h1 = cycle.conn
                prior = h1.front_memo
                f, kept_ext, memo = front_token(scope, policy, out, prior)
                h1.front_memo = memo
                if kept_ext is None:
                    return False  # an in-process or CORS route
                ext = kept_ext
                if memo is prior:
                    repeated = memo
            else:
                f = front(scope, policy, out)
                if f.route.internal is not None or f.route.cors is not None:
                    return False  # the ASGI path answers a preflight before extracting
                ext = extract_token(f, scope)
            route = f.route
            verified: VerifiedToken | None = None
            try:
                try:
                    verified = authenticate(f, policy, res, ext, out)
                except UnknownKeyId:
                    # The ASGI path refreshes the key source and verifies
                    # again (this token then counts two cache misses).
                    return False
                check_rate_now(limiter, route, verified, f.client[0])
            except JwtGateError as exc:
                dry_run(route, exc, out)
                verified = None
            if repeated is None:
                headers = upstream_headers(scope, f, policy, ext, verified, out.from_proxy)
                base, target = upstream_where(scope, policy, route, ext)
            else:
                base, target, headers = upstream_request(
                    repeated, scope, f, policy, ext, verified, out.from_proxy
                )
            conn = res.upstream.send_now(base, target, method, headers)
            if conn is None:
                # No idle connection (or an upstream the lean client skips):
                # connecting needs an await.
                _forward(cycle, res, route, base, target, headers, out, retry=True)
                return True
        except JwtGateError as exc:
            _answer(cycle, *refusal(scope, exc, out))
            _done(cycle, res, out)
            return True
        except Exception as exc:
            _failed(cycle, exc)
            return True
        out.wait(cycle, conn, res, route, base, target, headers)
        return True


class _Exchange(Outcome):
    """A request's outcome, and its upstream response awaited by callback.

    Once the request is written (:meth:`wait`), the connection calls
    :meth:`step` once its parser is done with received bytes, once it
    failed, or once the read timeout passed.
    """

    # None of Outcome's names: a slot named again would hide the outcome's
    # (its ``route`` is the route's name, ``compiled`` the route itself).
    __slots__ = ("base", "compiled", "conn", "cycle", "headers", "res", "target")

    def wait(
        self,
        cycle: Cycle,
        conn: Connection,
        res: Resources,
        route: CompiledRoute,
        base: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        """Await the response to the request just written on ``conn``."""
        self.cycle, self.conn, self.res, self.compiled = cycle, conn, res, route
        self.base, self.target, self.headers = base, target, headers
        conn.on_progress = self.step
        conn.watch(route.read_timeout)  # one wait: from the request to the response head

    def step(self) -> None:
        """The connection made progress (or the timeout passed): answer, stream or retry."""
        cycle, conn, out, res = self.cycle, self.conn, self, self.res
        if not conn.headers_done and conn.error is None and not conn.timed_out:
            conn.on_progress = self.step  # part of a head: the same deadline holds
            return
        conn.read_deadline = 0.0
        try:
            if conn.timed_out:
                conn.close()
                raise GatewayTimeout()
            error = conn.error
            if error is not None:
                if cycle.scope["method"] in _IDEMPOTENT and conn.reused and error.before_response:
                    self._retry()  # RFC 9110 section 9.2.2: once, on a fresh connection
                    return
                raise BadGateway()
            if not conn.complete:
                # A body still arriving: stream it from a task.
                pending = res.upstream.relay(conn, cycle.send, self.compiled.read_timeout)
                _continue(cycle, complete(pending, cycle.scope, cycle.send, res, out))
                return
            out.status = conn.status
            rest = res.upstream.answer(conn, cycle)
            if rest is not None:
                _continue(cycle, send_simple(cycle.send, *rest))
        except JwtGateError as exc:
            _answer(cycle, *refusal(cycle.scope, exc, out))
        except Exception as exc:
            conn.close()
            _failed(cycle, exc)
            return
        record(cycle.scope, res, out)
        if cycle.task is None:  # else the task writing the response reports it finished
            cycle.conn.finished(cycle)

    def _retry(self) -> None:
        _forward(
            self.cycle,
            self.res,
            self.compiled,
            self.base,
            self.target,
            self.headers,
            self,
            retry=False,
        )


def _forward(
    cycle: Cycle,
    res: Resources,
    route: CompiledRoute,
    base: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    out: Outcome,
    *,
    retry: bool,
) -> None:
    """Send the request the ASGI path's way, from a task (it may connect first)."""
    pending = res.upstream.forward(
        base,
        target,
        cycle.scope["method"],
        headers,
        cycle.receive,
        cycle.send,
        has_body=False,
        content_length=None,
        max_body=route.max_body_bytes,
        connect_timeout=route.connect_timeout,
        read_timeout=route.read_timeout,
        retry=retry,
    )
    _continue(cycle, complete(pending, cycle.scope, cycle.send, res, out))


def _answer(cycle: Cycle, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Write a whole response now, or from a task if the client must drain first."""
    if not cycle.respond(status, headers, body):
        _continue(cycle, send_simple(cycle.send, status, headers, body))


def _continue(cycle: Cycle, rest: Awaitable[None]) -> None:
    """Finish the request in a task; ``Cycle.run`` guards it and reports it finished."""
    cycle.task = cycle.conn.loop.create_task(cycle.run(lambda _scope, _receive, _send: rest))


def _done(cycle: Cycle, res: Resources, out: Outcome) -> None:
    record(cycle.scope, res, out)
    if cycle.task is None:  # else the task writing the response reports it finished
        cycle.conn.finished(cycle)


def _failed(cycle: Cycle, exc: Exception) -> None:
    # As Cycle.run does for an application that raises: a fixed 500 or a close.
    _log.error("request failed: %s", where(exc))
    cycle.fail()
    if cycle.task is None:
        cycle.conn.finished(cycle)
