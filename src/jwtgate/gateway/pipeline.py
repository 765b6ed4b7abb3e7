"""The request path, in order; the only module that knows the order.

sanitise headers -> select route -> (CORS preflight) -> extract token ->
verify + revocation -> CSRF (cookie tokens, unsafe methods) -> authorize ->
rate limit -> forward. Each stage is one module with one entry point; a
refusal is a ``JwtGateError`` rendered by :func:`render_error`. ``dry_run``
routes log what would have been refused and let the request through
without identity.
"""

from __future__ import annotations

import itertools
import os
import time

from jwtgate.csrf import CSRF_CLAIM, SAFE_METHODS, csrf_matches
from jwtgate.errors import IssuerMismatch, JwtGateError, UnknownKeyId
from jwtgate.gateway.asgi import ClientGone, Receive, Scope, Send
from jwtgate.gateway.authenticate import retry_after_refresh
from jwtgate.gateway.authorize import authorize
from jwtgate.gateway.compile import CompiledRoute
from jwtgate.gateway.cors import preflight_headers
from jwtgate.gateway.dispatch import dispatch, send_simple
from jwtgate.gateway.errors import (
    BodyTooLarge,
    CsrfFailed,
    InsufficientScope,
    MethodNotAllowed,
    MissingToken,
    render_error,
)
from jwtgate.gateway.extract import Extracted, extract
from jwtgate.gateway.forward import client_address, request_id
from jwtgate.gateway.headers import InboundHeaders, sanitize
from jwtgate.gateway.limit import check_rate, check_rate_now
from jwtgate.gateway.ratelimit import MemoryRateLimiter
from jwtgate.gateway.routing import select_route
from jwtgate.gateway.state import Policy, Resources
from jwtgate.jose import VerifiedToken

__all__ = ["handle"]


class _RequestIds:
    """Request ids: a random per-process prefix and a counter.

    Unique across workers and restarts without a system call per request; the
    prefix is redrawn in each forked worker.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = os.urandom(5).hex().encode("ascii")
        self._counter = itertools.count()

    def __next__(self) -> bytes:
        return b"%b%06x" % (self._prefix, next(self._counter))


_REQUEST_IDS = _RequestIds()


class _Outcome:
    """Per-request facts for the access log and metrics."""

    __slots__ = ("code", "from_proxy", "request_id", "route", "status", "subject")

    def __init__(self) -> None:
        self.from_proxy = False
        self.request_id = b"-"
        self.route = "-"
        self.status = 500
        self.code: str | None = None
        self.subject: str | None = None


def _reason(exc: JwtGateError) -> str:
    return exc.reason if isinstance(exc, InsufficientScope) else exc.code


def _verify(policy: Policy, res: Resources, token: str) -> VerifiedToken:
    """Verify synchronously (a cache hit is a dict lookup); raises ``UnknownKeyId`` to refresh."""
    metrics = res.metrics
    verifier = policy.auth.verifier
    misses = verifier.cache_misses
    started = time.perf_counter()
    verified = verifier.verify(token)
    if metrics is not None and verifier.cache_misses != misses:
        # Observed for full verifications only: a cache hit is a dict lookup,
        # and a histogram observation per hit would cost more than the hit.
        metrics.verify_latency(time.perf_counter() - started)
    return verified


def _admit(
    route: CompiledRoute,
    verified: VerifiedToken,
    ext: Extracted,
    inbound: InboundHeaders,
    method: str,
) -> None:
    """Issuer pin, CSRF (cookie tokens, unsafe methods) and the route's authorization rules."""
    if route.issuers is not None and verified.issuer not in route.issuers:
        # A valid token of another trusted issuer is not valid *here*: 401
        # invalid_token (RFC 6750 section 3.1), as for an untrusted issuer.
        raise IssuerMismatch("the token issuer is not accepted on this route")
    if ext.source == "cookie" and method not in SAFE_METHODS:
        # A browser attaches cookies to cross-site requests; the double-submit
        # header bound to the token's csrf claim proves same-origin JavaScript.
        presented = inbound.csrf.decode("latin-1") if inbound.csrf is not None else None
        if not csrf_matches(verified.claims.get(CSRF_CLAIM), presented):
            raise CsrfFailed()
    authorize(route, verified)


async def _run(
    scope: Scope, receive: Receive, send: Send, policy: Policy, res: Resources, out: _Outcome
) -> None:
    compiled = policy.compiled
    inbound = sanitize(scope["headers"], compiled.strip_exact, compiled.max_header_bytes)
    peer = scope.get("client")
    if compiled.trusted_proxies:
        client = client_address(peer[0] if peer else None, inbound.xff, compiled.trusted_proxies)
        from_proxy = client[1] != (peer[0].encode("ascii", "replace") if peer else b"unknown")
        out.from_proxy = from_proxy
        rid = request_id(inbound.request_id, from_proxy, next(_REQUEST_IDS))
    else:
        # No trusted proxy: the peer is the client, and what it says about
        # earlier hops or its request id is not believed (client_address).
        ip = (peer[0] if peer else None) or "unknown"
        client = (ip, ip.encode("ascii", "replace"))
        rid = next(_REQUEST_IDS)
    out.request_id = rid
    method: str = scope["method"]
    route = select_route(compiled.routes, scope["path"], method, inbound.host)
    out.route = route.name
    if (
        route.cors is not None
        and method == "OPTIONS"
        and inbound.origin is not None
        and any(n == b"access-control-request-method" for n, _ in inbound.headers)
    ):
        await send_simple(send, 204, preflight_headers(route.cors, inbound.origin), b"")
        out.status = 204
        return
    if route.methods is not None and method not in route.methods:
        raise MethodNotAllowed(route.methods)  # an OPTIONS that was not a preflight
    if inbound.content_length is not None and inbound.content_length > route.max_body_bytes:
        raise BodyTooLarge()
    if route.auth == "public":
        # A public route never reads a token, so odd credentials cannot fail it.
        ext = Extracted(None, None, scope["query_string"], inbound.cookie)
    else:
        ext = extract(route, inbound, scope["query_string"])
    verified: VerifiedToken | None = None
    try:
        token = ext.token
        if token is not None:
            try:
                verified = _verify(policy, res, token)
            except UnknownKeyId as exc:
                # A key rotation at the issuer: refresh its source once, retry.
                started = time.perf_counter()
                verified = await retry_after_refresh(policy.auth, token, exc)
                if res.metrics is not None:
                    res.metrics.verify_latency(time.perf_counter() - started)
            _admit(route, verified, ext, inbound, method)
            out.subject = verified.subject
            if res.metrics is not None:
                res.metrics.auth("allowed", "ok")
        elif route.auth == "required":
            raise MissingToken()
        limiter = res.limiter
        if isinstance(limiter, MemoryRateLimiter):
            check_rate_now(limiter, route, verified, client[0])  # no await on the hot path
        else:
            await check_rate(limiter, route, verified, client[0])
    except JwtGateError as exc:
        if not route.dry_run:
            raise
        # Rolling out a rule: record what it would refuse, forward without identity.
        out.code = f"dry_run:{_reason(exc)}"
        verified = None
    out.status = await dispatch(
        scope,
        receive,
        send,
        route,
        policy,
        res,
        inbound,
        ext,
        verified,
        client,
        rid,
        out.from_proxy,
    )


async def handle(
    scope: Scope, receive: Receive, send: Send, policy: Policy, res: Resources
) -> None:
    """Handle one HTTP request through the whole pipeline."""
    started = time.perf_counter()
    out = _Outcome()
    presented = False
    try:
        await _run(scope, receive, send, policy, res, out)
    except JwtGateError as exc:
        presented = any(n == b"authorization" for n, _ in scope["headers"])
        status, headers, body = render_error(exc, token_presented=presented)
        out.status, out.code = status, _reason(exc)
        await send_simple(send, status, headers, body)
    except ClientGone:
        out.status, out.code = 499, "client_closed"
    elapsed = time.perf_counter() - started
    code = out.code
    res.stats.record(out.status, code)
    metrics = res.metrics
    if metrics is not None:
        metrics.request(out.route, out.status, elapsed)
        if code is not None:
            metrics.auth("denied", code)
        if out.status == 429:
            metrics.rate_limited(out.route)
    if res.access.enabled:
        client = scope.get("client")
        res.access.log(
            request_id=out.request_id.decode("latin-1"),
            route=out.route,
            method=scope["method"],
            path=scope["path"],
            status=out.status,
            latency_ms=elapsed * 1000.0,
            subject=out.subject,
            error_code=code,
            client_ip=client[0] if client else None,
        )
