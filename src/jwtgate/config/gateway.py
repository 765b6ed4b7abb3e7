"""Gateway settings: listeners, issuers and the limits around the routes.

The routes themselves are :mod:`jwtgate.config.routes`. Every model is
frozen and rejects unknown keys (see :class:`Section`), so a misspelt key is
an error rather than a silently ignored setting. Rules that span several
fields are checked here with validators whose messages the loader prefixes
with the offending path (``gateway.listeners[1].tls``).
Defaults that depend on other sections (the local issuer, its algorithm) are
resolved by ``jwtgate.gateway.compile.compile_gateway``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from jwtgate.config.base import Section
from jwtgate.config.routes import _HEADER_NAME, RouteSettings, default_routes
from jwtgate.config.tokens import Algorithm

__all__ = [
    "AdminListenerSettings",
    "GatewaySettings",
    "HstsSettings",
    "IssuerSettings",
    "ListenerSettings",
    "TlsSettings",
    "is_loopback_host",
]

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
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="worker processes (on Linux each has its own SO_REUSEPORT listening socket)",
    )
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
    rate_limit_on_error: Literal["allow", "deny"] = Field(
        default="allow", description="Redis limiter unreachable: allow, or deny with 503"
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
