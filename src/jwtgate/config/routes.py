"""Route settings: which requests a route takes and what it demands of them.

Split from :mod:`jwtgate.config.gateway` because routes are most of the
policy surface: the match, the authorization rules (roles, scopes, claims),
the token sources (RFC 6750 section 2.3 for the query parameter), rate
limits, upstream URLs and timeouts, and CORS. Like every section these
models are frozen and reject unknown keys, so a misspelt policy key is an
error rather than a silently open route. :func:`default_routes` is the demo
wiring of the embedded defaults.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from jwtgate.config.base import Section

__all__ = [
    "CorsSettings",
    "MatchSettings",
    "RateLimitSettings",
    "RequireSettings",
    "RouteSettings",
    "RuleSettings",
    "TimeoutSettings",
    "TokenSourceSettings",
    "default_routes",
]

# RFC 9110 section 5.6.2 token: the only characters allowed in a header name.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CLAIM_KEY = re.compile(r"^(subject|ip|claim:[^\s]+)$")


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
    issuers: tuple[str, ...] = Field(
        default=(), description="accept tokens of these issuers only; empty: every issuer"
    )
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
