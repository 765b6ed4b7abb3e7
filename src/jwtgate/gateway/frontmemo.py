"""The front stages of a request that repeats the previous one on its connection.

A keep-alive client (a service calling another, an SDK, a poller) sends the
same header fields, target and method on request after request. Stages 1-3
(:func:`~jwtgate.gateway.pipeline.front`: sanitised headers, client address,
route; :func:`~jwtgate.gateway.pipeline.extract_token`) are pure functions of
exactly those, of the connection's peer and of the compiled policy, so a
request that repeats its predecessor on the same connection reuses their
results: a compiled-policy identity check and a few C-level compares
(the header list, path, raw path, query, method) instead of a pass over
every field; so does the upstream request's URL and fields but its id.
The fast lane looks here only for a request the lean server started from a
repeated read (``Cycle.repeated``), so requests that differ pay nothing.

What is per request still runs for every request: a fresh request id, and
everything after extraction (token verification with its expiry and
revocation checks, CSRF, authorization, rate limits). A configuration reload
builds a new compiled policy, whose identity no memo matches. Only requests
whose stages succeeded are kept (a refusal is computed again), and only heads
up to ``MEMO_MAX_BYTES``, so an idle connection holds little.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from jwtgate.gateway.compile import CompiledGateway
from jwtgate.gateway.dispatch import upstream_headers, upstream_where
from jwtgate.gateway.extract import Extracted
from jwtgate.gateway.forward import request_id
from jwtgate.gateway.outcome import Outcome
from jwtgate.gateway.pipeline import REQUEST_IDS, Front, extract_token, front
from jwtgate.gateway.state import Policy
from jwtgate.jose import VerifiedToken

__all__ = ["MEMO_MAX_BYTES", "FrontMemo", "front_token", "upstream_request"]

# Header names and values (the sanitiser's size count) of a head kept for the
# next request: a bearer token and the usual fields fit many times over.
MEMO_MAX_BYTES = 4096

_new = tuple.__new__


class FrontMemo(NamedTuple):
    """What stages 1-3 made of one request, and the inputs they read.

    A tuple, built without a Python ``__init__``.
    """

    compiled: CompiledGateway
    # The request's own header list: the parser builds a new one for every
    # request and nothing changes it afterwards.
    headers: list[tuple[bytes, bytes]]
    path: str
    raw_path: bytes  # the upstream target's (dispatch)
    query: bytes
    method: str
    front: Front  # its request id is the first request's
    from_proxy: bool
    ext: Extracted
    # Filled by upstream_request once the request repeats: the verifier's
    # object for the token (the same one on every cache hit), the upstream
    # fields but X-Request-Id for it, and the URL and target of a route
    # with one upstream.
    upstream: list[Any]


def front_token(
    scope: dict[str, Any], policy: Policy, out: Outcome, memo: FrontMemo | None
) -> tuple[Front, Extracted | None, FrontMemo | None]:
    """Stages 1-3 of ``scope``: from ``memo`` when the request repeats it, else run.

    Returns the front, the extracted token and the memo for the connection's
    next request (``memo`` itself, a new one, or None for a head too large to
    keep). The token is None, and nothing kept, for an in-process or CORS
    route: the fast lane leaves those to the ASGI path, which checks for a
    preflight before it extracts. Raises what :func:`front` and
    :func:`extract_token` raise.
    """
    compiled = policy.compiled
    method: str = scope["method"]
    if (
        memo is not None
        and memo.compiled is compiled
        and memo.method == method
        and memo.path == scope["path"]
        and memo.raw_path == scope["raw_path"]
        and memo.query == scope["query_string"]
        and memo.headers == scope["headers"]
    ):
        inbound, client, _, route, _ = memo.front
        if memo.from_proxy:
            out.from_proxy = True
            # A trusted proxy's well-formed X-Request-Id is kept, as front() does.
            rid = request_id(inbound.request_id, True, next(REQUEST_IDS.ids))
        else:
            rid = next(REQUEST_IDS.ids)
        out.request_id = rid
        out.route = route.name
        return _new(Front, (inbound, client, rid, route, method)), memo.ext, memo
    f = front(scope, policy, out)
    if f.route.internal is not None or f.route.cors is not None:
        # Not the fast lane's: the ASGI path answers a preflight before
        # anything else, then extracts.
        return f, None, None
    ext = extract_token(f, scope)
    if f.inbound.size > MEMO_MAX_BYTES:
        return f, ext, None
    kept: tuple[Any, ...] = (
        compiled,
        scope["headers"],
        scope["path"],
        scope["raw_path"],
        scope["query_string"],
        method,
        f,
        out.from_proxy,
        ext,
        [],
    )
    return f, ext, _new(FrontMemo, kept)


def upstream_request(
    memo: FrontMemo,
    scope: dict[str, Any],
    f: Front,
    policy: Policy,
    ext: Extracted,
    verified: VerifiedToken | None,
    from_proxy: bool,
) -> tuple[str, bytes, list[tuple[bytes, bytes]]]:
    """The upstream URL, target and headers of a request that repeats ``memo``'s.

    What :func:`~jwtgate.gateway.dispatch.upstream_where` and
    :func:`~jwtgate.gateway.dispatch.upstream_headers` give, with the parts
    that do not change between repeated requests kept on ``memo``: the
    fields but the request id while the token verifies to the same object
    (its claims make the identity headers), and the target of a route with
    one upstream (several rotate on every request).
    """
    route = f.route
    kept = memo.upstream
    if not kept or kept[0] is not verified:
        fields = upstream_headers(scope, f, policy, ext, verified, from_proxy, with_id=False)
        where = upstream_where(scope, policy, route, ext)
        # Holding ``verified`` keeps its id from being reused while kept.
        kept[:] = (verified, fields, where if len(route.upstreams) == 1 else None)
    else:
        fields = kept[1]
        where = kept[2] or upstream_where(scope, policy, route, ext)
    return where[0], where[1], [*fields, (b"x-request-id", f.rid)]
