"""Route selection: the first route whose path, host and method match wins.

Routes are compiled once; selection is a short linear scan over immutable
objects. Paths with dot segments (``/public/../admin``) are refused before
matching, because a route decision made on one path and an upstream that
normalises it to another is the classic path-confusion bypass
(RFC 3986 section 5.2.4; e.g. CVE-2021-41773). Many upstreams also drop
``;`` path parameters (RFC 3986 section 3.3; ``/public/..;/admin`` is ``..``
to Tomcat, CVE-2020-1957), merge repeated slashes (``/api//admin``) or ignore
letter case (``/API/admin``, CVE-2016-5007), so a path carrying any of these
is matched twice, as sent and as such an upstream sees it, and refused when
the two pick different routes. (Routes that differ only in letter case are
therefore ambiguous; the later one is unreachable.)
"""

from __future__ import annotations

from collections.abc import Callable

from jwtgate.errors import JwtGateError
from jwtgate.gateway.compile import CompiledRoute
from jwtgate.gateway.errors import BadRequest, MethodNotAllowed, RouteNotFound

__all__ = ["select_route"]


def _check_path(path: str) -> str | None:
    """Refuse unusable paths; the lenient upstream's view when it differs, else None."""
    if not path.startswith("/") or "\x00" in path or "\\" in path:
        raise BadRequest("invalid request path")
    if ";" not in path and "//" not in path:
        if "/." in path:
            for segment in path.split("/"):
                if segment in (".", ".."):
                    raise BadRequest("dot segments are not allowed in the path")
        return None
    segments = [s.partition(";")[0] for s in path.split("/")]
    if any(s in (".", "..") for s in segments):
        raise BadRequest("dot segments are not allowed in the path")
    # Empty segments merged, a trailing slash kept: what nginx merge_slashes,
    # Spring and Tomcat hand to their routers.
    return "/" + "/".join([*(s for s in segments[1:-1] if s), segments[-1]])


def _host_only(host: bytes | None) -> str | None:
    if host is None:
        return None
    text = host.decode("latin-1").lower()
    if text.startswith("["):  # IPv6 literal, RFC 3986 section 3.2.2
        return text.split("]", 1)[0] + "]"
    name = text.rsplit(":", 1)[0] if ":" in text else text
    # ``admin.example.`` is the same absolute name (RFC 1034 section 3.1) and
    # vhost upstreams serve it as such; unmatched it would fall to a later route.
    return name[:-1] if name.endswith(".") else name


_Chosen = dict[tuple[str, str, bytes | None], CompiledRoute]
# Per routes tuple (one per reload): the route chosen for (path, method, Host).
# Selection is a pure function of these, so a repeated request skips the
# checks; only successful selections of short paths are kept, and a full
# table is emptied (bounded memory whatever the clients send).
_CHOSEN: dict[int, tuple[tuple[CompiledRoute, ...], _Chosen]] = {}
_CHOSEN_MAX = 4096
_CHOSEN_PATH = 256
# The entry used last: a worker serves one routes tuple until a reload, so
# this skips the id() lookup above on almost every request.
_last: tuple[tuple[CompiledRoute, ...], _Chosen] | None = None


def select_route(
    routes: tuple[CompiledRoute, ...], path: str, method: str, host: bytes | None
) -> CompiledRoute:
    """The first matching route; :class:`RouteNotFound` or :class:`MethodNotAllowed` otherwise.

    :class:`BadRequest` for a path an upstream could read as another route's.
    """
    global _last
    entry = _last
    if entry is None or entry[0] is not routes:
        entry = _CHOSEN.get(id(routes))
        if entry is None or entry[0] is not routes:
            if len(_CHOSEN) >= 16:
                _CHOSEN.clear()
            entry = _CHOSEN[id(routes)] = (routes, {})
        _last = entry
    chosen = entry[1]
    key = (path, method, host)
    route = chosen.get(key)
    if route is None:
        route = _select(routes, path, method, host)
        if len(path) <= _CHOSEN_PATH and (host is None or len(host) <= _CHOSEN_PATH):
            if len(chosen) >= _CHOSEN_MAX:
                chosen.clear()
            chosen[key] = route
    return route


def _select(
    routes: tuple[CompiledRoute, ...], path: str, method: str, host: bytes | None
) -> CompiledRoute:
    lenient = _check_path(path)
    route = _first(routes, path, method, host, CompiledRoute.matches_path)
    folded = (lenient or path).lower()
    if folded != path or _has_upper(routes):
        try:
            other = _first(routes, folded, method, host, _matches_folded)
        except JwtGateError:
            other = None
        if other is not route:
            raise BadRequest("the path matches another route in another spelling")
    return route


# Per routes tuple (one per reload): whether a route path has upper-case
# letters, so that a lower-case request needs the folded comparison too. The
# entry holds the tuple, so its id cannot be reused while cached.
_UPPER: dict[int, tuple[tuple[CompiledRoute, ...], bool]] = {}


def _has_upper(routes: tuple[CompiledRoute, ...]) -> bool:
    entry = _UPPER.get(id(routes))
    if entry is None or entry[0] is not routes:
        flag = any(
            (r.exact or r.prefix or "") != (r.exact or r.prefix or "").lower() for r in routes
        )
        if len(_UPPER) >= 16:
            _UPPER.clear()
        entry = _UPPER[id(routes)] = (routes, flag)
    return entry[1]


def _matches_folded(route: CompiledRoute, path: str) -> bool:
    """``matches_path`` ignoring letter case (``path`` is already lower-case).

    Case-insensitive upstreams (IIS, ASP.NET, Spring with case-insensitive
    matching: CVE-2016-5007) serve ``/API/admin`` as ``/api/admin``.
    """
    if route.exact is not None:
        return path == route.exact.lower()
    prefix = (route.prefix or "/").lower()
    if not path.startswith(prefix):
        return False
    return prefix.endswith("/") or len(path) == len(prefix) or path[len(prefix)] == "/"


def _first(
    routes: tuple[CompiledRoute, ...],
    path: str,
    method: str,
    host: bytes | None,
    matches: Callable[[CompiledRoute, str], bool],
) -> CompiledRoute:
    host_name: str | None = None
    host_done = False
    allowed: set[str] = set()
    for route in routes:
        if not matches(route, path):
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
