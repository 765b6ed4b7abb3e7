"""Gateway settings: listeners, issuers, routes and the limits around them.

Every model is frozen and rejects unknown keys (see :class:`Section`), so a
misspelt policy key is an error rather than a silently open route. Rules that
span several fields are checked here with validators whose messages the loader
prefixes with the offending path (``gateway.routes[2].require.scopes``).
Defaults that depend on other sections (the local issuer, its algorithm) are
resolved by ``jwtgate.gateway.compile.compile_gateway``.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from jwtgate.config.base import Section
from jwtgate.config.tokens import Algorithm

__all__ = [
    "AdminListenerSettings",
    "CorsSettings",
    "GatewaySettings",
    "HstsSettings",
    "IssuerSettings",
    "ListenerSettings",
    "MatchSettings",
    "RateLimitSettings",
    "RequireSettings",
    "RouteSettings",
    "RuleSettings",
    "TimeoutSettings",
    "TlsSettings",
    "TokenSourceSettings",
    "default_routes",
    "is_loopback_host",
]

# RFC 9110 section 5.6.2 token: the only characters allowed in a header name.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CLAIM_KEY = re.compile(r"^(subject|ip|claim:[^\s]+)$")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

Port = Annotated[int, Field(ge=0, le=65535)]


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback IP literals (names are not resolved)."""
    if host is None:
        return False
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HstsSettings(Section):
    """``Strict-Transport-Security`` sent on TLS listeners (RFC 6797 section 6.1)."""

    max_age: int = Field(default=31_536_000, ge=0, description="HSTS max-age, seconds")
    include_subdomains: bool = Field(default=False, description="add includeSubDomains")


class TlsSettings(Section):
    """TLS for one listener: PEM files, minimum protocol version, optional HSTS."""

    cert: Path = Field(description="PEM certificate chain file")
    key: Path = Field(description="PEM private key file")
    min_version: Literal["1.2", "1.3"] = Field(default="1.2", description="lowest TLS version")
    hsts: HstsSettings | None = Field(
        default=None, description="Strict-Transport-Security; off by default"
    )

    @field_validator("min_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # YAML reads ``1.2`` as a float; accept it as the version it plainly names.
        return str(value) if isinstance(value, float) else value

    @field_validator("hsts", mode="before")
    @classmethod
    def _hsts_off(cls, value: Any) -> Any:
        return None if value in (False, "off") else value


class ListenerSettings(Section):
    """A public listener of the gateway."""

    host: str = Field(default="127.0.0.1", min_length=1, description="address to bind")
    port: Port = Field(default=8080, description="TCP port")
    tls: TlsSettings | None = Field(default=None, description="serve HTTPS on this listener")


class AdminListenerSettings(Section):
    """The admin listener: ``/metrics``, ``/healthz``, ``/readyz``; keep it private."""

    host: str = Field(default="127.0.0.1", min_length=1, description="address to bind")
    port: Port = Field(default=9180, description="TCP port")


class IssuerSettings(Section):
    """One trusted issuer and where its verification keys come from (exactly one source)."""

    issuer: str = Field(min_length=1, description="exact `iss` value")
    audiences: tuple[str, ...] = Field(min_length=1, description="accepted `aud` values")
    keyring: bool = Field(default=False, description="keys from the local keyring in data_dir")
    jwks_url: str | None = Field(default=None, description="keys from this JWKS URL (https)")
    jwks_file: Path | None = Field(default=None, description="keys from this JWKS file")
    jwks_ttl: float = Field(default=300.0, gt=0, description="JWKS refresh interval, s")
    jwks_cooldown: float = Field(
        default=30.0, ge=0, description="minimum gap between unknown-kid refetches, s"
    )
    algorithms: tuple[Algorithm, ...] | None = Field(
        default=None, min_length=1, description="allowed algorithms (default tokens.algorithm)"
    )
    leeway: float | None = Field(
        default=None, ge=0, le=300, description="clock skew, s (default tokens.leeway)"
    )
    max_lifetime: float | None = Field(
        default=None, gt=0, description="longest token lifetime, s (default tokens.max_ttl)"
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> IssuerSettings:
        sources = [self.keyring, self.jwks_url is not None, self.jwks_file is not None]
        if sum(sources) != 1:
            raise ValueError("exactly one of keyring: true, jwks_url or jwks_file is required")
        if self.jwks_url is not None:
            parts = urlsplit(self.jwks_url)
            # Keys fetched over plain HTTP can be swapped by anyone on the path;
            # only loopback is exempt (a local auth server, tests).
            if parts.scheme == "http" and not is_loopback_host(parts.hostname):
                raise ValueError("jwks_url must use https (plain http only for loopback)")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("jwks_url must be an https URL")
        return self


class MatchSettings(Section):
    """Which requests a route takes: exactly one of ``path`` (exact) or ``prefix``."""

    path: str | None = Field(default=None, description="exact path")
    prefix: str | None = Field(default=None, description="path prefix, whole segments")
    methods: tuple[str, ...] | None = Field(
        default=None, min_length=1, description="allowed methods (default all)"
    )
    host: str | None = Field(default=None, description="Host header (without port)")

    @field_validator("methods")
    @classmethod
    def _upper_methods(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        out = tuple(m.upper() for m in value)
        if any(not _HEADER_NAME.match(m) for m in out):
            raise ValueError("methods must be HTTP method tokens")
        return out

    @model_validator(mode="after")
    def _one_path(self) -> MatchSettings:
        given = [p for p in (self.path, self.prefix) if p is not None]
        if len(given) != 1:
            raise ValueError("exactly one of path or prefix is required")
        if not given[0].startswith("/"):
            raise ValueError("path and prefix must start with '/'")
        return self


class RuleSettings(Section):
    """A set rule: the token must carry any one of, or all of, these values."""

    any_of: tuple[str, ...] | None = Field(default=None, min_length=1, description="at least one")
    all_of: tuple[str, ...] | None = Field(default=None, min_length=1, description="every one")

    @model_validator(mode="after")
    def _one_kind(self) -> RuleSettings:
        if (self.any_of is None) == (self.all_of is None):
            raise ValueError("exactly one of any_of or all_of is required")
        return self


class RequireSettings(Section):
    """Authorization requirements; all given parts must hold."""

    roles: RuleSettings | None = Field(default=None, description="`roles` claim rule")
    scopes: RuleSettings | None = Field(default=None, description="`scope` claim rule")
    claims: dict[str, str | int | bool] = Field(
        default_factory=dict, description="claims that must equal these values"
    )


class TokenSourceSettings(Section):
    """Where tokens are read from. ``Authorization: Bearer`` is always read.

    ``cookie: true`` reads the access cookie of browser mode (name from
    ``jwtgate.csrf``), or the named cookie; unsafe methods then need the CSRF
    header. ``query_param`` (RFC 6750 section 2.3, discouraged) is opt-in.
    """

    cookie: bool | str = Field(default=False, description="read the access cookie (or this one)")
    query_param: str | None = Field(
        default=None, min_length=1, description="read this query parameter (discouraged)"
    )


class RateLimitSettings(Section):
    """Token-bucket rate limit keyed by ``subject``, ``ip`` or ``claim:<name>``."""

    key: str = Field(default="subject", description="subject, ip or claim:<name>")
    rate: float = Field(gt=0, description="tokens added per second")
    burst: int = Field(ge=1, description="bucket size")

    @field_validator("key")
    @classmethod
    def _key_kind(cls, value: str) -> str:
        if not _CLAIM_KEY.match(value):
            raise ValueError("key must be subject, ip or claim:<name>")
        return value


class TimeoutSettings(Section):
    """Upstream timeouts in seconds."""

    connect: float = Field(default=5.0, gt=0, description="connect timeout, s")
    read: float = Field(default=30.0, gt=0, description="time between upstream reads, s")


class CorsSettings(Section):
    """CORS for a route (Fetch standard); preflights are answered by the gateway."""

    allow_origins: tuple[str, ...] = Field(min_length=1, description='origins, or "*"')
    allow_methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
    allow_headers: tuple[str, ...] = ("authorization", "content-type", "x-csrf-token")
    allow_credentials: bool = Field(default=False, description="allow cookies cross-origin")
    max_age: int = Field(default=600, ge=0, description="preflight cache time, s")

    @model_validator(mode="after")
    def _no_wildcard_credentials(self) -> CorsSettings:
        # The Fetch standard forbids "*" with credentials; reflecting every
        # origin instead would hand any site the user's session.
        if self.allow_credentials and "*" in self.allow_origins:
            raise ValueError("allow_origins must not contain '*' with allow_credentials")
        return self


_DEFAULT_FORWARD = {
    "sub": "X-User-Id",
    "roles": "X-User-Roles",
    "scope": "X-User-Scopes",
    "jti": "X-Token-Id",
}


class RouteSettings(Section):
    """One route; the first route whose ``match`` fits a request handles it."""

    name: str = Field(
        min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="route name (logs, metrics)"
    )
    match: MatchSettings = Field(description="which requests this route takes")
    upstream: tuple[str, ...] = Field(
        min_length=1, description="URL(s), round robin; or internal://NAME"
    )
    strip_prefix: bool = Field(default=False, description="remove match.prefix upstream")
    auth: Literal["required", "optional", "public"] = Field(
        default="required", description="whether a token is needed"
    )
    require: RequireSettings = Field(
        default_factory=RequireSettings, description="roles, scopes and claims needed"
    )
    forward: dict[str, str] = Field(
        default_factory=lambda: dict(_DEFAULT_FORWARD), description="claim -> request header"
    )
    forward_token: bool = Field(default=False, description="pass Authorization upstream")
    token_sources: TokenSourceSettings = Field(
        default_factory=TokenSourceSettings, description="opt-in cookie / query sources"
    )
    rate_limit: RateLimitSettings | None = Field(default=None, description="token bucket")
    timeouts: TimeoutSettings = Field(
        default_factory=TimeoutSettings, description="upstream timeouts"
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=0, description="largest request body (413 above)"
    )
    cors: CorsSettings | None = Field(default=None, description="CORS; off by default")
    dry_run: bool = Field(default=False, description="log refusals but let requests through")

    @field_validator("upstream", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("upstream")
    @classmethod
    def _upstream_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        internal = [u for u in value if u.startswith("internal://")]
        if internal and len(value) > 1:
            raise ValueError("an internal:// upstream cannot be combined with others")
        for url in value:
            parts = urlsplit(url)
            if parts.scheme == "internal":
                if not re.match(r"^[A-Za-z0-9_-]+$", parts.netloc) or parts.path:
                    raise ValueError("internal upstreams are written internal://NAME")
            elif parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"upstream {url!r} must be an http(s) or internal:// URL")
            elif parts.query or parts.fragment:
                raise ValueError("upstream URLs take no query or fragment")
        return value

    @field_validator("forward")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for header in value.values():
            if not _HEADER_NAME.match(header):
                raise ValueError(f"{header!r} is not a valid header name")
            if header.lower() in ("authorization", "host", "cookie", "content-length"):
                raise ValueError(f"{header!r} cannot carry a claim")
        return value

    @model_validator(mode="after")
    def _cross_rules(self) -> RouteSettings:
        if self.strip_prefix and self.match.prefix is None:
            raise ValueError("strip_prefix needs match.prefix")
        has_require = (
            self.require.roles is not None
            or self.require.scopes is not None
            or bool(self.require.claims)
        )
        if self.auth == "public" and (has_require or self.rate_limit_needs_token()):
            raise ValueError("a public route cannot require roles, scopes, claims or subject keys")
        return self

    def rate_limit_needs_token(self) -> bool:
        """True if the rate-limit key comes from the token."""
        return self.rate_limit is not None and self.rate_limit.key != "ip"


def default_routes() -> tuple[RouteSettings, ...]:
    """The demo wiring of the embedded defaults (auth, echo, console)."""
    raw: list[dict[str, Any]] = [
        {
            "name": "auth",
            "match": {"prefix": "/auth"},
            "upstream": "internal://auth",
            "auth": "public",
            # The auth server authenticates /auth/logout, /auth/me and
            # client_secret_basic itself, so it needs the Authorization header.
            "forward_token": True,
        },
        {
            "name": "admin",
            "match": {"prefix": "/api/admin"},
            "upstream": "internal://echo",
            "require": {"roles": {"any_of": ["admin"]}},
            "token_sources": {"cookie": True},
        },
        {
            "name": "echo",
            "match": {"prefix": "/api/echo"},
            "upstream": "internal://echo",
            "token_sources": {"cookie": True},
        },
        {
            "name": "public",
            "match": {"prefix": "/api/public"},
            "upstream": "internal://echo",
            "auth": "public",
        },
        {
            # Gateway counters for the console's live panel; any valid token.
            "name": "stats",
            "match": {"path": "/api/stats"},
            "upstream": "internal://stats",
            "token_sources": {"cookie": True},
        },
        {
            "name": "console",
            "match": {"prefix": "/"},
            "upstream": "internal://console",
            "auth": "public",
        },
    ]
    return tuple(RouteSettings.model_validate(r) for r in raw)


class GatewaySettings(Section):
    """Settings of the API gateway.

    ``issuers: null`` (the default) trusts the local issuer only: the keyring in
    ``data_dir`` with ``tokens.issuer`` and ``tokens.audience``.
    """

    listeners: tuple[ListenerSettings, ...] = Field(
        default_factory=lambda: (ListenerSettings(),), min_length=1, description="public listeners"
    )
    admin_listener: AdminListenerSettings | None = Field(
        default_factory=AdminListenerSettings, description="/metrics, /healthz; null: none"
    )
    workers: int = Field(default=1, ge=1, le=64, description="worker processes")
    http_server: Literal["lean", "uvicorn"] = Field(
        default="lean",
        description="HTTP/1.1 server of every listener, serve auth included: lean or uvicorn",
    )
    issuers: tuple[IssuerSettings, ...] | None = Field(
        default=None, description="trusted issuers; null: the local issuer only"
    )
    routes: tuple[RouteSettings, ...] = Field(
        default_factory=default_routes, description="first match wins"
    )
    strip_headers: tuple[str, ...] = Field(
        default=(), description="extra inbound headers to drop (X-User-*, X-Auth-* always)"
    )
    max_header_bytes: int = Field(
        default=16_384, ge=1024, le=1_048_576, description="request header size cap (431)"
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=(), description="networks whose X-Forwarded-* are believed"
    )
    drain_seconds: float = Field(
        default=10.0, ge=0, le=600, description="SIGTERM: wait this long for requests"
    )
    rate_limit_backend: Literal["memory", "redis"] = Field(
        default="memory", description="redis shares buckets between workers"
    )
    access_log: bool = Field(default=True, description="JSON access log on stdout")
    metrics: bool = Field(default=True, description="Prometheus metrics on the admin listener")

    @field_validator("strip_headers")
    @classmethod
    def _strip_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for header in value:
            if not _HEADER_NAME.match(header):
                raise ValueError(f"{header!r} is not a valid header name")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not an IP address or network") from None
        return value

    @model_validator(mode="after")
    def _unique(self) -> GatewaySettings:
        names = [r.name for r in self.routes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"route names must be unique: {', '.join(dupes)}")
        if self.issuers is not None:
            if not self.issuers:
                raise ValueError("issuers must not be empty (omit it for the local issuer)")
            ids = [i.issuer for i in self.issuers]
            if len(set(ids)) != len(ids):
                raise ValueError("issuer ids must be unique")
        binds = [(li.host, li.port) for li in self.listeners if li.port != 0]
        if self.admin_listener is not None and self.admin_listener.port != 0:
            binds.append((self.admin_listener.host, self.admin_listener.port))
        if len(set(binds)) != len(binds):
            raise ValueError("listeners and admin_listener must use distinct addresses")
        return self
