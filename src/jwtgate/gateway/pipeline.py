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
from collections.abc import Awaitable, MutableMapping
from typing import Any
from urllib.parse import quote

from jwtgate.csrf import CSRF_CLAIM, SAFE_METHODS, csrf_matches
from jwtgate.errors import JwtGateError, UnknownKeyId
from jwtgate.gateway.asgi import ClientGone, Receive, Send
from jwtgate.gateway.authenticate import retry_after_refresh
from jwtgate.gateway.authorize import authorize
from jwtgate.gateway.compile import CompiledRoute
from jwtgate.gateway.cors import cors_headers, preflight_headers
from jwtgate.gateway.errors import (
    BodyTooLarge,
    CsrfFailed,
    InsufficientScope,
    MethodNotAllowed,
    MissingToken,
    render_error,
)
from jwtgate.gateway.extract import Extracted, extract
from jwtgate.gateway.forward import client_address, identity_headers, request_id
from jwtgate.gateway.headers import InboundHeaders, sanitize
from jwtgate.gateway.internal import call_internal
from jwtgate.gateway.limit import check_rate, check_rate_now
from jwtgate.gateway.ratelimit import MemoryRateLimiter
from jwtgate.gateway.routing import select_route
from jwtgate.gateway.state import Policy, Resources
from jwtgate.jose import VerifiedToken

__all__ = ["handle"]

Scope = MutableMapping[str, Any]
_IDENTITY_CACHE = 10_000


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
_SCHEMES = {"http": b"http", "https": b"https"}


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


async def _send_simple(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_status(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> int:
    await _send_simple(send, status, headers, body)
    return status


def _upstream_path(scope: Scope, route: CompiledRoute) -> tuple[str, bytes]:
    """The decoded and raw path to send upstream, with the route prefix stripped."""
    path: str = scope["path"]
    raw: bytes = scope.get("raw_path") or quote(path).encode("ascii")
    strip = route.strip
    if not strip:
        return path, raw
    new_path = path[len(strip) :] or "/"
    encoded = strip.encode("latin-1")
    new_raw = raw[len(encoded) :] if raw.startswith(encoded) else quote(new_path).encode("ascii")
    return new_path, new_raw or b"/"


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
    """CSRF (cookie tokens, unsafe methods) and the route's authorization rules."""
    if ext.source == "cookie" and method not in SAFE_METHODS:
        # A browser attaches cookies to cross-site requests; the double-submit
        # header bound to the token's csrf claim proves same-origin JavaScript.
        presented = inbound.csrf.decode("latin-1") if inbound.csrf is not None else None
        if not csrf_matches(verified.claims.get(CSRF_CLAIM), presented):
            raise CsrfFailed()
    authorize(route, verified)


def _forward(
    scope: Scope,
    receive: Receive,
    send: Send,
    route: CompiledRoute,
    policy: Policy,
    res: Resources,
    inbound: InboundHeaders,
    ext: Extracted,
    verified: VerifiedToken | None,
    client: tuple[str, bytes],
    rid: bytes,
    out: _Outcome,
) -> Awaitable[int]:
    """The upstream request's headers; returns what answers it (awaits to the status).

    Not a coroutine function: for a URL upstream it returns the client's
    awaitable itself, one coroutine less on every proxied request.
    """
    headers = inbound.headers
    if ext.cookie is not None:
        headers.append((b"cookie", ext.cookie))
    if route.forward_token:
        if ext.source == "query":
            headers.append((b"authorization", b"Bearer " + (ext.token or "").encode("ascii")))
        else:
            # Verbatim, whatever the scheme: an auth server behind a public route
            # needs client_secret_basic (RFC 6749 section 2.3.1) as much as Bearer.
            headers.extend((b"authorization", v) for v in inbound.authorization)
    if verified is not None:
        # The verifier hands out the same VerifiedToken object on every cache
        # hit and its claims never change, so neither do its headers. Keyed by
        # identity; the entry holds the object, so its id cannot be reused.
        key = (route.index, id(verified))
        entry = policy.identity.get(key)
        if entry is None or entry[0] is not verified:
            entry = (verified, identity_headers(route, verified))
            if len(policy.identity) >= _IDENTITY_CACHE:
                policy.identity.clear()
            policy.identity[key] = entry
        headers.extend(entry[1])
    host = inbound.host or b""
    headers.append((b"x-forwarded-for", client[1]))
    proto = _SCHEMES.get(scope["scheme"]) or scope["scheme"].encode("ascii")
    fwd_host = host
    if out.from_proxy:
        # Behind a trusted TLS-terminating proxy, its view of scheme and host is the real one.
        if inbound.xf_proto in (b"http", b"https"):
            proto = inbound.xf_proto
        if inbound.xf_host:
            fwd_host = inbound.xf_host
    headers.append((b"x-forwarded-proto", proto))
    if fwd_host:
        headers.append((b"x-forwarded-host", fwd_host))
    headers.append((b"x-request-id", rid))
    if route.cors is not None:
        extra = cors_headers(route.cors, inbound.origin)
        inner_send = send

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await inner_send(message)

    path, raw_path = _upstream_path(scope, route)
    if route.internal is not None:
        if route.internal == "stats":
            verifier = policy.auth.verifier
            body = res.stats.render(verifier.cache_hits, verifier.cache_misses)
            ctype = (b"content-type", b"application/json")
            return _send_status(send, 200, [ctype, (b"cache-control", b"no-store")], body)
        if host:
            headers.append((b"host", host))
        if inbound.content_length is not None:
            headers.append((b"content-length", str(inbound.content_length).encode("ascii")))
        component = res.runtime.components[route.internal]
        inner = dict(scope)
        inner.update(
            headers=headers,
            path=path,
            raw_path=raw_path,
            query_string=ext.query_string,
            client=(client[0], (scope.get("client") or ("", 0))[1]),
        )
        return call_internal(component.app, inner, receive, send, route.max_body_bytes)
    counter = policy.round_robin
    index = counter[route.index]
    counter[route.index] = index + 1
    base = route.upstreams[index % len(route.upstreams)]
    query = ext.query_string
    length = inbound.content_length
    return res.upstream.forward(
        base,
        raw_path + b"?" + query if query else raw_path,
        scope["method"],
        headers,
        receive,
        send,
        has_body=bool(length) or inbound.chunked,
        content_length=length,
        max_body=route.max_body_bytes,
        connect_timeout=route.connect_timeout,
        read_timeout=route.read_timeout,
    )


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
        await _send_simple(send, 204, preflight_headers(route.cors, inbound.origin), b"")
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
    out.status = await _forward(
        scope, receive, send, route, policy, res, inbound, ext, verified, client, rid, out
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
        await _send_simple(send, status, headers, body)
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
