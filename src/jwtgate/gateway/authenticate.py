"""Stages 3 and 4: verify the token and check revocation.

Both happen inside the token engine's :class:`Verifier`, which is handed the
revocation store's in-process view, so the check is a few dict lookups and
never a network call (it runs on cache hits too). This module owns the key
sources of the configured issuers and their one rotation-safety rule: when
a token names an unknown ``kid`` and its issuer's keys come from a remote
JWKS (or a file), the source may refetch once (rate-limited by the source's
cooldown) and the token is verified again, so a key rotation at the issuer
never fails a request. Nothing a token says is ever fetched: only the
configured source of the issuer the token names is asked to refresh.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping

from jwtgate.clock import Clock
from jwtgate.errors import ConfigError, UnknownKeyId
from jwtgate.gateway.issuers import IssuerSpec
from jwtgate.gateway.jwks_source import JwksFileSource, RemoteJwksSource
from jwtgate.jose import IssuerPolicy, KeySource, VerifiedToken, Verifier
from jwtgate.revocation import RevocationView

__all__ = ["Authenticator", "authenticate", "retry_after_refresh"]


class Authenticator:
    """The verifier and the key sources of every configured issuer."""

    def __init__(
        self,
        issuers: tuple[IssuerSpec, ...],
        *,
        keyring: KeySource | None,
        revocation: RevocationView,
        clock: Clock,
        cache_size: int,
        max_token_bytes: int,
        on_jwks_fetch: Callable[[str], None] | None = None,
    ) -> None:
        self.remote: dict[str, RemoteJwksSource] = {}
        self.files: dict[str, JwksFileSource] = {}
        policies = []
        for i, spec in enumerate(issuers):
            source: KeySource
            if spec.source == "keyring":
                if keyring is None:
                    raise ConfigError(f"gateway.issuers[{i}]: the local keyring is not open")
                source = keyring
            elif spec.jwks_url is not None:
                remote = RemoteJwksSource(
                    spec.jwks_url,
                    ttl=spec.jwks_ttl,
                    cooldown=spec.jwks_cooldown,
                    clock=clock,
                    on_fetch=on_jwks_fetch,
                )
                self.remote[spec.issuer] = remote
                source = remote
            elif spec.jwks_file is not None:
                file_source = JwksFileSource(spec.jwks_file)
                self.files[spec.issuer] = file_source
                source = file_source
            else:  # pragma: no cover - excluded by IssuerSettings validation
                raise ConfigError(f"gateway.issuers[{i}]: no key source")
            policies.append(
                IssuerPolicy(
                    issuer=spec.issuer,
                    audiences=spec.audiences,
                    algorithms=spec.algorithms,
                    keys=source,
                    leeway=spec.leeway,
                    max_lifetime=spec.max_lifetime,
                    max_token_bytes=max_token_bytes,
                )
            )
        self.verifier = Verifier(
            policies, clock=clock, cache_size=cache_size, revocation=revocation
        )

    async def start(self) -> None:
        """Fetch remote key sets (a failed first fetch is retried in the background)."""
        for source in self.remote.values():
            await source.start()

    async def close(self) -> None:
        """Stop background refreshes."""
        for source in self.remote.values():
            await source.close()

    def reload_files(self) -> bool:
        """Re-read JWKS files that changed on disk; True if any key set changed."""
        changed = False
        for source in self.files.values():
            changed = source.reload_if_changed() or changed
        return changed

    async def refresh_for(self, token: str, kid: str | None) -> bool:
        """Ask the named issuer's source for an unknown kid; True if a retry may help."""
        issuer = _unverified_issuer(token)
        if issuer is None:
            return False
        remote = self.remote.get(issuer)
        if remote is not None:
            return kid is not None and await remote.refresh_for_kid(kid)
        file_source = self.files.get(issuer)
        return file_source is not None and file_source.reload_if_changed()


def _unverified_issuer(token: str) -> str | None:
    """``iss`` read without verification, only to pick which configured source to refresh."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 16384:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return None
    iss = claims.get("iss") if isinstance(claims, Mapping) else None
    return iss if isinstance(iss, str) else None


def _unverified_kid(token: str) -> str | None:
    head = token.split(".", 1)[0]
    if len(head) > 4096:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return None
    kid = header.get("kid") if isinstance(header, Mapping) else None
    return kid if isinstance(kid, str) else None


async def authenticate(auth: Authenticator, token: str) -> VerifiedToken:
    """Verify ``token`` (signature, claims, revocation); raises a ``TokenError``.

    An unknown ``kid`` from an issuer with a refreshable source triggers one
    refresh and one retry; the source's cooldown bounds how often a stream of
    forged kids can make it fetch.
    """
    try:
        return auth.verifier.verify(token)
    except UnknownKeyId as exc:
        return await retry_after_refresh(auth, token, exc)


async def retry_after_refresh(
    auth: Authenticator, token: str, error: UnknownKeyId
) -> VerifiedToken:
    """The second half of :func:`authenticate`, for callers that verified synchronously first.

    Raises ``error`` again when the issuer's source has nothing new.
    """
    if not await auth.refresh_for(token, _unverified_kid(token)):
        raise error
    return auth.verifier.verify(token)
