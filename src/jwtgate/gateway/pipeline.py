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
from collections.abc import Awaitable, Iterator
from typing import NamedTuple

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
from jwtgate.gateway.outcome import Outcome, record
from jwtgate.gateway.ratelimit import MemoryRateLimiter
from jwtgate.gateway.routing import select_route
from jwtgate.gateway.state import Policy, Resources
from jwtgate.jose import VerifiedToken

__all__ = [
    "REQUEST_IDS",
    "Front",
    "authenticate",
    "complete",
    "dry_run",
    "extract_token",
    "front",
    "handle",
    "preflight",
    "record",
    "refusal",
]


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
        # ``prefix + counter`` formatted by a C iterator: ``next`` on it runs
        # no Python frame, on every request.
        self.ids: Iterator[bytes] = map((self._prefix + b"%06x").__mod__, itertools.count())


REQUEST_IDS = _RequestIds()
Headers = list[tuple[bytes, bytes]]


class Front(NamedTuple):
    """Stages 1-2: what every later stage reads about the request."""

    inbound: InboundHeaders
    client: tuple[str, bytes]
    rid: bytes
    route: CompiledRoute
    method: str


_new_front = tuple.__new__


def _reason(exc: JwtGateError) -> str:
    return exc.reason if isinstance(exc, InsufficientScope) else exc.code


def front(scope: Scope, policy: Policy, out: Outcome) -> Front:
    """Sanitise the headers, find the client and request id, select the route."""
    compiled = policy.compiled
    inbound = sanitize(scope["headers"], compiled.strip_exact, compiled.max_header_bytes)
    peer = scope.get("client")
    if compiled.trusted_proxies:
        client = client_address(peer[0] if peer else None, inbound.xff, compiled.trusted_proxies)
        from_proxy = client[1] != (peer[0].encode("ascii", "replace") if peer else b"unknown")
        out.from_proxy = from_proxy
        rid = request_id(inbound.request_id, from_proxy, next(REQUEST_IDS.ids))
    else:
        # No trusted proxy: the peer is the client, and what it says about
        # earlier hops or its request id is not believed (client_address).
        ip = (peer[0] if peer else None) or "unknown"
        client = (ip, ip.encode("ascii", "replace"))
        rid = next(REQUEST_IDS.ids)
    out.request_id = rid
    method: str = scope["method"]
    route = select_route(compiled.routes, scope["path"], method, inbound.host)
    out.route = route.name
    # tuple.__new__ directly: a NamedTuple's own __new__ is a Python function.
    return _new_front(Front, (inbound, client, rid, route, method))


def preflight(f: Front) -> Headers | None:
    """The response headers when the request is a CORS preflight for a route with CORS.

    A preflight is answered here, never forwarded.
    """
    cors, origin = f.route.cors, f.inbound.origin
    if (
        cors is not None
        and f.method == "OPTIONS"
        and origin is not None
        and any(n == b"access-control-request-method" for n, _ in f.inbound.headers)
    ):
        return preflight_headers(cors, origin)
    return None


def extract_token(f: Front, scope: Scope) -> Extracted:
    """Stage 3 after the method and body-size checks: the token, if the route reads one."""
    route, inbound = f.route, f.inbound
    if route.methods is not None and f.method not in route.methods:
        raise MethodNotAllowed(route.methods)  # an OPTIONS that was not a preflight
    if inbound.content_length is not None and inbound.content_length > route.max_body_bytes:
        raise BodyTooLarge()
    if route.auth == "public":
        # A public route never reads a token, so odd credentials cannot fail it.
        return Extracted(None, None, scope["query_string"], inbound.cookie)
    return extract(route, inbound, scope["query_string"])


def authenticate(
    f: Front,
    policy: Policy,
    res: Resources,
    ext: Extracted,
    out: Outcome,
    verified: VerifiedToken | None = None,
) -> VerifiedToken | None:
    """Stages 4-5: verify the token (unless ``verified`` is its result) and admit it.

    Verification is synchronous (a cache hit is a dict lookup); raises
    :class:`UnknownKeyId` when the key source should be refreshed first.
    Then the issuer pin, CSRF (cookie tokens, unsafe methods) and the route's
    authorization rules. One function for all of it: it runs on every request.
    """
    token = ext.token
    route = f.route
    if token is None:
        if route.auth == "required":
            raise MissingToken()
        return None
    if verified is None:
        metrics = res.metrics
        verifier = policy.auth.verifier
        misses = verifier.cache_misses
        started = time.perf_counter()
        verified = verifier.verify(token)
        if metrics is not None and verifier.cache_misses != misses:
            # Observed for full verifications only: a cache hit is a dict lookup,
            # and a histogram observation per hit would cost more than the hit.
            metrics.verify_latency(time.perf_counter() - started)
    if route.issuers is not None and verified.issuer not in route.issuers:
        # A valid token of another trusted issuer is not valid *here*: 401
        # invalid_token (RFC 6750 section 3.1), as for an untrusted issuer.
        raise IssuerMismatch("the token issuer is not accepted on this route")
    if ext.source == "cookie" and f.method not in SAFE_METHODS:
        # A browser attaches cookies to cross-site requests; the double-submit
        # header bound to the token's csrf claim proves same-origin JavaScript.
        csrf = f.inbound.csrf
        presented = csrf.decode("latin-1") if csrf is not None else None
        if not csrf_matches(verified.claims.get(CSRF_CLAIM), presented):
            raise CsrfFailed()
    if route.authorizes:
        authorize(route, verified)
    out.subject = verified.subject
    out.allowed = True  # counted by record(), with the request
    return verified


def dry_run(route: CompiledRoute, exc: JwtGateError, out: Outcome) -> None:
    """Re-raise a refusal, unless ``route`` only records what it would refuse."""
    if not route.dry_run:
        raise exc
    # Rolling out a rule: record what it would refuse, forward without identity.
    out.code = f"dry_run:{_reason(exc)}"


def refusal(scope: Scope, exc: JwtGateError, out: Outcome) -> tuple[int, Headers, bytes]:
    """The RFC 6750 / JSON error response for a refused request."""
    presented = any(n == b"authorization" for n, _ in scope["headers"])
    status, headers, body = render_error(exc, token_presented=presented)
    out.status, out.code = status, _reason(exc)
    return status, headers, body


async def _run(
    scope: Scope, receive: Receive, send: Send, policy: Policy, res: Resources, out: Outcome
) -> int:
    f = front(scope, policy, out)
    answer = preflight(f)
    if answer is not None:
        await send_simple(send, 204, answer, b"")
        return 204
    ext = extract_token(f, scope)
    verified: VerifiedToken | None = None
    try:
        try:
            verified = authenticate(f, policy, res, ext, out)
        except UnknownKeyId as exc:
            # A key rotation at the issuer: refresh its source once, retry.
            started = time.perf_counter()
            verified = await retry_after_refresh(policy.auth, ext.token or "", exc)
            if res.metrics is not None:
                res.metrics.verify_latency(time.perf_counter() - started)
            authenticate(f, policy, res, ext, out, verified)
        limiter = res.limiter
        if isinstance(limiter, MemoryRateLimiter):
            check_rate_now(limiter, f.route, verified, f.client[0])  # no await on the hot path
        else:
            await check_rate(limiter, f.route, verified, f.client[0])
    except JwtGateError as exc:
        dry_run(f.route, exc, out)
        verified = None
    return await dispatch(scope, receive, send, f, policy, res, ext, verified, out)


async def complete(
    pending: Awaitable[int], scope: Scope, send: Send, res: Resources, out: Outcome
) -> None:
    """Await the rest of a request (to its status), answer a refusal, record the outcome."""
    try:
        out.status = await pending
    except JwtGateError as exc:
        await send_simple(send, *refusal(scope, exc, out))
    except ClientGone:
        out.status, out.code = 499, "client_closed"
    record(scope, res, out)


def handle(
    scope: Scope, receive: Receive, send: Send, policy: Policy, res: Resources
) -> Awaitable[None]:
    """Handle one HTTP request through the whole pipeline."""
    out = Outcome()
    return complete(_run(scope, receive, send, policy, res, out), scope, send, res, out)
