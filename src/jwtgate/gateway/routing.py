"""Route selection: the first route whose path, host and method match wins.

Routes are compiled once; selection is a short linear scan over immutable
objects. Paths with dot segments (``/public/../admin``) are refused before
matching, because a route decision made on one path and an upstream that
normalises it to another is the classic path-confusion bypass
(RFC 3986 section 5.2.4; e.g. CVE-2021-41773).
"""

from __future__ import annotations

from jwtgate.gateway.compile import CompiledRoute
from jwtgate.gateway.errors import BadRequest, MethodNotAllowed, RouteNotFound

__all__ = ["select_route"]


def _check_path(path: str) -> None:
    if not path.startswith("/") or "\x00" in path or "\\" in path:
        raise BadRequest("invalid request path")
    if "/." in path:
        for segment in path.split("/"):
            if segment in (".", ".."):
                raise BadRequest("dot segments are not allowed in the path")


def _host_only(host: bytes | None) -> str | None:
    if host is None:
        return None
    text = host.decode("latin-1").lower()
    if text.startswith("["):  # IPv6 literal, RFC 3986 section 3.2.2
        return text.split("]", 1)[0] + "]"
    return text.rsplit(":", 1)[0] if ":" in text else text


def select_route(
    routes: tuple[CompiledRoute, ...], path: str, method: str, host: bytes | None
) -> CompiledRoute:
    """The first matching route; :class:`RouteNotFound` or :class:`MethodNotAllowed` otherwise."""
    _check_path(path)
    host_name: str | None = None
    host_done = False
    allowed: set[str] = set()
    for route in routes:
        if not route.matches_path(path):
            continue
        if route.host is not None:
            if not host_done:
                host_name, host_done = _host_only(host), True
            if host_name != route.host:
                continue
        if route.methods is not None and method not in route.methods:
            if method == "OPTIONS" and route.cors is not None:
                return route  # a CORS preflight for this route (Fetch standard 4.8)
            allowed.update(route.methods)
            continue
        return route
    if allowed:
        raise MethodNotAllowed(frozenset(allowed))
    raise RouteNotFound()
