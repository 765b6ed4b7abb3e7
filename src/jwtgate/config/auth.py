"""Auth server settings (stores, passwords, refresh families, throttling, cookies)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from jwtgate.config.base import Section

__all__ = ["Argon2Settings", "AuthSettings", "CookieSettings", "ThrottleSettings"]


class Argon2Settings(Section):
    """argon2id cost parameters.

    The defaults are the OWASP Password Storage Cheat Sheet minimum for
    argon2id (m=19 MiB, t=2, p=1). Hashes made with other parameters are
    re-hashed transparently at the next successful login.
    """

    time_cost: int = Field(default=2, ge=1, le=20, description="argon2id iterations (t)")
    memory_cost: int = Field(
        default=19456, ge=8, le=4_194_304, description="argon2id memory (m), KiB"
    )
    parallelism: int = Field(default=1, ge=1, le=16, description="argon2id lanes (p)")


class ThrottleSettings(Section):
    """Brute-force protection (see ``jwtgate.auth.throttle`` for the design)."""

    window: int = Field(default=900, gt=0, description="failures older than this are forgotten, s")
    pair_max_failures: int = Field(default=5, ge=1, description="per (account, ip) before lockout")
    ip_max_failures: int = Field(
        default=50, ge=1, description="per ip, any account, before lockout"
    )
    lockout_base: int = Field(default=60, gt=0, description="first lockout, doubled each time, s")
    lockout_max: int = Field(default=3600, gt=0, description="cap on one lockout, s")
    account_soft_threshold: int = Field(
        default=10, ge=1, description="per-account failures before the soft delay starts"
    )
    account_max_delay: int = Field(
        default=30, ge=0, description="cap on the per-account soft delay, s"
    )
    trusted_pair_seconds: int = Field(
        default=30 * 86400, ge=0, description="how long a successful login exempts its ip, s"
    )


class CookieSettings(Section):
    """Browser (cookie) mode.

    ``secure`` may only be turned off for a plain-HTTP loopback demo; cookie
    names then lose their ``__Host-`` prefix (see ``jwtgate.csrf``). The
    configuration is refused when ``secure`` is off and a gateway listener
    is not on loopback, unless ``demo_on_network`` says this is the demo run
    with ``--host`` on purpose (it warns loudly).
    """

    default: bool = Field(default=False, description="use cookie mode unless a login opts out")
    secure: bool = Field(
        default=True,
        description="Secure + __Host- cookies; only a plain-HTTP loopback demo turns this off",
    )
    access_in_cookie: bool = Field(
        default=False, description="also deliver the access token as an HttpOnly cookie"
    )
    demo_on_network: bool = Field(
        default=False,
        description="let secure: false stand on a non-loopback listener (demo --host only)",
    )


class AuthSettings(Section):
    """Settings of the auth server."""

    mount_path: str = Field(
        default="/auth",
        pattern=r"^(/[A-Za-z0-9._~-]+)+$",
        description="path prefix of every auth endpoint",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default SQLite file in data_dir"
    )
    argon2: Argon2Settings = Field(
        default_factory=Argon2Settings, description="password hashing cost"
    )
    password_min_length: int = Field(default=8, ge=8, le=128, description="policy minimum")
    password_max_length: int = Field(default=128, ge=8, le=1024, description="policy maximum")
    user_scopes: tuple[str, ...] = Field(
        default=("api",), description="scopes a login may request (default: all of them)"
    )
    login_client_id: str = Field(
        default="jwtgate",
        min_length=1,
        max_length=128,
        description="client_id of tokens from /login (the public first-party client)",
    )
    password_grant: bool = Field(default=False, description="RFC 6749 4.3; off per RFC 9700 2.4")
    refresh_idle_timeout: int = Field(
        default=7 * 86400, gt=0, description="a refresh token unused this long expires, s"
    )
    refresh_absolute_lifetime: int = Field(
        default=30 * 86400, gt=0, description="a login's refresh family ends after this, s"
    )
    refresh_grace_seconds: float = Field(
        default=0.0,
        ge=0.0,
        le=60.0,
        description="a consumed refresh token presented again within this window gets "
        "invalid_grant without revoking its family (never a second successor); 0 = off",
    )
    revocation_poll_interval: float = Field(
        default=2.0,
        gt=0.0,
        le=3600.0,
        description="how often revocations written by others (CLI, instances) are read, s",
    )
    max_body_bytes: int = Field(
        default=16384, ge=1024, le=1_048_576, description="request body cap (413 above)"
    )
    trust_forwarded_for: bool = Field(
        default=False, description="take the client ip from X-Forwarded-For (behind a proxy)"
    )
    jwks_max_age: int = Field(
        default=300, ge=0, le=86400, description="Cache-Control max-age of JWKS and metadata, s"
    )
    audit_memory: int = Field(default=500, ge=1, le=100_000, description="events kept for the UI")
    throttle: ThrottleSettings = Field(
        default_factory=ThrottleSettings, description="brute-force protection"
    )
    cookies: CookieSettings = Field(
        default_factory=CookieSettings, description="browser (cookie) mode"
    )

    @field_validator("user_scopes")
    @classmethod
    def _scopes_are_tokens(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for scope in value:
            # RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            if not scope or any(c in ' "\\' or not 0x21 <= ord(c) <= 0x7E for c in scope):
                raise ValueError(f"invalid scope token {scope!r}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> AuthSettings:
        if self.password_min_length > self.password_max_length:
            raise ValueError("password_min_length must not exceed password_max_length")
        if self.refresh_idle_timeout > self.refresh_absolute_lifetime:
            raise ValueError("refresh_idle_timeout must not exceed refresh_absolute_lifetime")
        return self
