"""Stage 7: complete the upstream request and hand it to the upstream that answers it.

The headers an upstream receives (cookie, ``Authorization`` when the route
forwards the token, identity headers from stage 7a, ``X-Forwarded-*`` and
``X-Request-Id``), the CORS response headers, the path with the route prefix
stripped, and the choice between the built-in stats endpoint, an in-process
component and a URL upstream (round robin, sent by stage 7b).
"""

from __future__ import annotations

from collections.abc import Awaitable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jwtgate.gateway.asgi import Receive, Scope, Send
from jwtgate.gateway.compile import CompiledRoute
from jwtgate.gateway.cors import cors_headers
from jwtgate.gateway.extract import Extracted
from jwtgate.gateway.forward import identity_headers
from jwtgate.gateway.internal import call_internal
from jwtgate.gateway.state import Policy, Resources
from jwtgate.jose import VerifiedToken

if TYPE_CHECKING:
    from jwtgate.gateway.outcome import Outcome
    from jwtgate.gateway.pipeline import Front

__all__ = [
    "dispatch",
    "send_simple",
    "upstream_headers",
    "upstream_where",
]

_IDENTITY_CACHE = 10_000
_SCHEMES = {"http": b"http", "https": b"https"}


async def send_simple(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """Send a whole response: its start and its only body message."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_status(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> int:
    await send_simple(send, status, headers, body)
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


def upstream_headers(
    scope: Scope,
    f: Front,
    policy: Policy,
    ext: Extracted,
    verified: VerifiedToken | None,
    from_proxy: bool,
    *,
    with_id: bool = True,
) -> list[tuple[bytes, bytes]]:
    """The headers the upstream receives (everything but ``Host`` and framing).

    ``X-Request-Id`` comes last, and only ``with_id``: the rest is a function
    of the request's front stages, its token's verified claims, the
    connection's scheme and the policy, which a repeated request can reuse
    (jwtgate.gateway.frontmemo).
    """
    inbound, route = f.inbound, f.route
    # A copy: the sanitised fields may serve the next request on the
    # connection too (jwtgate.gateway.frontmemo).
    headers = inbound.headers.copy()
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
    proto = _SCHEMES.get(scope["scheme"]) or scope["scheme"].encode("ascii")
    fwd_host = inbound.host
    if from_proxy:
        # Behind a trusted TLS-terminating proxy, its view of scheme and host is the real one.
        if inbound.xf_proto in (b"http", b"https"):
            proto = inbound.xf_proto
        if inbound.xf_host:
            fwd_host = inbound.xf_host
    headers.append((b"x-forwarded-for", f.client[1]))
    headers.append((b"x-forwarded-proto", proto))
    if fwd_host:
        headers.append((b"x-forwarded-host", fwd_host))
    if with_id:
        headers.append((b"x-request-id", f.rid))
    return headers


def upstream_where(
    scope: Scope, policy: Policy, route: CompiledRoute, ext: Extracted
) -> tuple[str, bytes]:
    """The route's next upstream URL (round robin) and the target sent to it.

    The target is the path (route prefix stripped) and the query.
    """
    upstreams = route.upstreams
    if len(upstreams) == 1:
        base = upstreams[0]  # nothing to rotate
    else:
        counter = policy.round_robin
        index = counter[route.index]
        counter[route.index] = index + 1
        base = upstreams[index % len(upstreams)]
    raw_path = scope.get("raw_path") if not route.strip else None
    if not raw_path:  # a prefix to strip, or no raw path: the general way
        raw_path = _upstream_path(scope, route)[1]
    query = ext.query_string
    return base, (raw_path + b"?" + query if query else raw_path)


def dispatch(
    scope: Scope,
    receive: Receive,
    send: Send,
    f: Front,
    policy: Policy,
    res: Resources,
    ext: Extracted,
    verified: VerifiedToken | None,
    out: Outcome,
) -> Awaitable[int]:
    """Complete the upstream request; returns what answers it (awaits to the status).

    Not a coroutine function: for a URL upstream it returns the client's
    awaitable itself, one coroutine less on every proxied request.
    """
    route, inbound = f.route, f.inbound
    headers = upstream_headers(scope, f, policy, ext, verified, out.from_proxy)
    host = inbound.host or b""
    if route.cors is not None:
        extra = cors_headers(route.cors, inbound.origin)
        inner_send = send

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await inner_send(message)

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
        path, raw_path = _upstream_path(scope, route)
        component = res.runtime.components[route.internal]
        inner = dict(scope)
        inner.update(
            headers=headers,
            path=path,
            raw_path=raw_path,
            query_string=ext.query_string,
            client=(f.client[0], (scope.get("client") or ("", 0))[1]),
        )
        return call_internal(component.app, inner, receive, send, route.max_body_bytes)
    length = inbound.content_length
    base, target = upstream_where(scope, policy, route, ext)
    return res.upstream.forward(
        base,
        target,
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
