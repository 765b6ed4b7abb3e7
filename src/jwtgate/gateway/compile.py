"""Compile gateway settings once, at start, into immutable hot-path objects.

Nothing here runs per request: routes become :class:`CompiledRoute` objects
with frozensets and pre-encoded header names, issuer defaults are resolved
against the ``tokens`` section, and every cross-section rule that the
pydantic models cannot see is checked, naming the path of the bad value.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from jwtgate.config import JwtGateConfig
from jwtgate.config.routes import CorsSettings, RouteSettings
from jwtgate.csrf import cookie_names
from jwtgate.errors import ConfigError
from jwtgate.gateway.issuers import IssuerSpec, compile_issuers

__all__ = [
    "ALWAYS_STRIPPED_PREFIXES",
    "CompiledCors",
    "CompiledGateway",
    "CompiledRoute",
    "IssuerSpec",
    "RateLimitSpec",
    "compile_gateway",
]

ALWAYS_STRIPPED_PREFIXES = (b"x-user-", b"x-auth-")
"""Inbound header prefixes that can never reach an upstream (anti-spoofing)."""

AuthMode = Literal["required", "optional", "public"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class RateLimitSpec:
    """A route's rate limit: ``kind`` is ``subject``, ``ip`` or ``claim``."""

    kind: Literal["subject", "ip", "claim"]
    claim: str | None
    rate: float
    burst: int


@dataclass(frozen=True, slots=True)
class CompiledCors:
    """CORS policy with header values rendered once."""

    origins: frozenset[str]
    any_origin: bool
    allow_methods: bytes
    allow_headers: bytes
    allow_credentials: bool
    max_age: bytes


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """Everything the pipeline needs about one route, precomputed."""

    index: int
    name: str
    exact: str | None
    prefix: str | None
    methods: frozenset[str] | None
    host: str | None
    upstreams: tuple[str, ...]
    internal: str | None
    strip: str | None
    auth: AuthMode
    roles_any: frozenset[str] | None
    roles_all: frozenset[str] | None
    scopes_any: frozenset[str] | None
    scopes_all: frozenset[str] | None
    claims: tuple[tuple[str, str | int | bool], ...]
    needed_scope: str
    forward: tuple[tuple[str, bytes], ...]
    forward_token: bool
    cookie: str | None
    query_param: str | None
    rate_limit: RateLimitSpec | None
    connect_timeout: float
    read_timeout: float
    max_body_bytes: int
    cors: CompiledCors | None
    dry_run: bool
    issuers: frozenset[str] | None = None
    authorizes: bool = field(init=False)
    """Whether any role, scope or claim rule applies (else authorize is skipped)."""

    def __post_init__(self) -> None:
        # Derived here, not passed in, so that ``dataclasses.replace`` keeps it true.
        rules = (self.roles_any, self.roles_all, self.scopes_any, self.scopes_all)
        authorizes = bool(self.claims) or any(r is not None for r in rules)
        object.__setattr__(self, "authorizes", authorizes)

    def matches_path(self, path: str) -> bool:
        """Exact match, or prefix match on a segment boundary (``/api`` ≠ ``/apix``)."""
        if self.exact is not None:
            return path == self.exact
        prefix = self.prefix or "/"
        if not path.startswith(prefix):
            return False
        return prefix.endswith("/") or len(path) == len(prefix) or path[len(prefix)] == "/"


@dataclass(frozen=True, slots=True)
class CompiledGateway:
    """The immutable, request-ready form of ``config.gateway``."""

    routes: tuple[CompiledRoute, ...]
    issuers: tuple[IssuerSpec, ...]
    strip_exact: frozenset[bytes]
    max_header_bytes: int
    trusted_proxies: tuple[Network, ...]
    internal_names: frozenset[str]

    @property
    def uses_keyring(self) -> bool:
        """True when an issuer's keys are the local keyring."""
        return any(i.source == "keyring" for i in self.issuers)


def _cors(c: CorsSettings) -> CompiledCors:
    return CompiledCors(
        origins=frozenset(c.allow_origins),
        any_origin="*" in c.allow_origins,
        allow_methods=", ".join(m.upper() for m in c.allow_methods).encode("latin-1"),
        allow_headers=", ".join(h.lower() for h in c.allow_headers).encode("latin-1"),
        allow_credentials=c.allow_credentials,
        max_age=str(c.max_age).encode("ascii"),
    )


def _route(index: int, r: RouteSettings, cookie_default: str) -> CompiledRoute:
    req = r.require
    upstreams = tuple(u.rstrip("/") for u in r.upstream)
    internal = urlsplit(upstreams[0]).netloc if upstreams[0].startswith("internal://") else None
    rl = r.rate_limit
    limit = None
    if rl is not None:
        kind: Literal["subject", "ip", "claim"] = (
            "claim" if rl.key.startswith("claim:") else "ip" if rl.key == "ip" else "subject"
        )
        claim = rl.key[len("claim:") :] if kind == "claim" else None
        limit = RateLimitSpec(kind, claim, rl.rate, rl.burst)
    scope_names = (req.scopes.any_of or req.scopes.all_of or ()) if req.scopes else ()
    cookie = r.token_sources.cookie
    prefix = r.match.prefix
    return CompiledRoute(
        index=index,
        name=r.name,
        exact=r.match.path,
        prefix=prefix,
        methods=frozenset(r.match.methods) if r.match.methods else None,
        host=r.match.host.lower().rstrip(".") if r.match.host else None,
        upstreams=upstreams,
        internal=internal,
        strip=prefix.rstrip("/") if (r.strip_prefix and prefix) else None,
        auth=r.auth,
        roles_any=frozenset(req.roles.any_of) if req.roles and req.roles.any_of else None,
        roles_all=frozenset(req.roles.all_of) if req.roles and req.roles.all_of else None,
        scopes_any=frozenset(req.scopes.any_of) if req.scopes and req.scopes.any_of else None,
        scopes_all=frozenset(req.scopes.all_of) if req.scopes and req.scopes.all_of else None,
        claims=tuple(sorted(req.claims.items())),
        needed_scope=" ".join(scope_names),
        forward=tuple((claim, h.lower().encode("ascii")) for claim, h in r.forward.items()),
        forward_token=r.forward_token,
        cookie=(cookie_default if cookie is True else cookie) or None,
        query_param=r.token_sources.query_param,
        rate_limit=limit,
        connect_timeout=r.timeouts.connect,
        read_timeout=r.timeouts.read,
        max_body_bytes=r.max_body_bytes,
        cors=_cors(r.cors) if r.cors else None,
        dry_run=r.dry_run,
        issuers=frozenset(r.issuers) if r.issuers else None,
    )


def _shadows(first: CompiledRoute, later: CompiledRoute) -> bool:
    """True if ``first`` takes every request ``later`` could match (first match wins)."""
    if first.host is not None and first.host != later.host:
        return False
    if first.methods is not None and (later.methods is None or not later.methods <= first.methods):
        return False
    if first.exact is not None:
        return later.exact == first.exact
    # A prefix match on ``later``'s path or prefix covers everything below it too.
    return first.matches_path(later.exact if later.exact is not None else later.prefix or "/")


def compile_gateway(config: JwtGateConfig) -> CompiledGateway:
    """Validate cross-section rules and build the immutable gateway tables.

    Raises :class:`ConfigError` naming the offending path.
    """
    g = config.gateway
    # The auth server names the access cookie after auth.cookies.secure (a browser
    # keeps a __Host- cookie only when it is Secure, RFC 6265bis 4.1.3.2); the
    # gateway must read the very cookie the auth server sets, whether TLS ends
    # here or at a load balancer in front.
    cookie_default = cookie_names(config.auth.cookies.secure).access
    routes = tuple(_route(i, r, cookie_default) for i, r in enumerate(g.routes))
    for i, later in enumerate(routes):
        for first in routes[:i]:
            if _shadows(first, later):
                # An unreachable route is always a mistake, and often a security
                # one: its stricter policy silently never applies.
                raise ConfigError(
                    f"gateway.routes[{i}]: unreachable, every request it matches is taken "
                    f"by routes[{first.index}] ({first.name}) first"
                )
    issuers = compile_issuers(config)
    trusted = {spec.issuer for spec in issuers}
    for route in routes:
        for name in sorted((route.issuers or frozenset()) - trusted):
            # A pin to an issuer the gateway does not trust would refuse every
            # token on the route: always a typo or a forgotten issuer entry.
            raise ConfigError(
                f"gateway.routes[{route.index}].issuers: {name!r} is not a configured issuer"
            )
        if route.internal == "stats" and route.auth == "public":
            # Counters are harmless but reveal traffic; demand a token.
            raise ConfigError(f"gateway.routes[{route.index}].auth: internal://stats needs a token")
    strip = {h.lower().encode("ascii") for h in g.strip_headers}
    for route in routes:
        # A claim header must never pass through from the client when the claim
        # is absent, so every forwarded name is stripped inbound on every route.
        strip.update(h for _, h in route.forward)
    # Client-address headers: the gateway writes X-Forwarded-*; look-alikes an
    # upstream might trust instead (X-Real-IP, Forwarded) never pass through.
    strip.update(
        (
            b"forwarded",
            b"x-forwarded-for",
            b"x-forwarded-proto",
            b"x-forwarded-host",
            b"x-forwarded-port",
            b"x-forwarded-prefix",
            b"x-real-ip",
            b"x-client-ip",
        )
    )
    return CompiledGateway(
        routes=routes,
        issuers=issuers,
        strip_exact=frozenset(strip),
        max_header_bytes=g.max_header_bytes,
        trusted_proxies=tuple(ipaddress.ip_network(n, strict=False) for n in g.trusted_proxies),
        internal_names=frozenset(
            r.internal for r in routes if r.internal and r.internal != "stats"
        ),
    )
