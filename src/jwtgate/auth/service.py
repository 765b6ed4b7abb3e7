"""Token lifecycle: login, refresh rotation, client credentials, logout, revocation, introspection.

No HTTP here: the routes parse and authenticate requests, this module
decides. Every decision uses the injected clock.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from jwtgate.auth.admin import hash_client_secret
from jwtgate.auth.core import AuthCore
from jwtgate.auth.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidScope,
    LoginRequired,
    UnauthorizedClient,
)
from jwtgate.auth.refresh_model import Family, Reuse
from jwtgate.auth.users import ClientRecord
from jwtgate.csrf import csrf_claim_for, new_csrf_token
from jwtgate.errors import TokenError
from jwtgate.jose import AccessTokenMinter, Keyring, MintedToken, VerifiedToken, Verifier

__all__ = ["DELIVERY_BODY", "DELIVERY_COOKIES", "DELIVERY_REFRESH_COOKIE", "Issued", "TokenService"]

DELIVERY_BODY = 0
"""Both tokens in the JSON body."""
DELIVERY_REFRESH_COOKIE = 1
"""Refresh token in an HttpOnly cookie, access token in the body (memory-only)."""
DELIVERY_COOKIES = 2
"""Refresh and access tokens in HttpOnly cookies."""

_MAX_PASSWORD_CHARS = 1024
_DUMMY_CLIENT_HASH = hash_client_secret("jwtgate-no-such-client")


@dataclass(frozen=True, slots=True)
class Issued:
    """What a grant produced."""

    access: MintedToken
    scope: str
    delivery: int = DELIVERY_BODY
    refresh_token: str | None = None
    refresh_expires: float | None = None
    family: Family | None = None
    csrf_token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _scope_subset(requested: str | None, allowed: tuple[str, ...] | list[str]) -> str:
    """RFC 6749 section 3.3: the granted scope; the full allowed set when none is asked."""
    if requested is None:
        return " ".join(allowed)
    asked = requested.split(" ")
    if any(not s for s in asked) or not set(asked) <= set(allowed):
        raise InvalidScope()
    return " ".join(dict.fromkeys(asked))


class TokenService:
    """Issues, rotates, revokes and introspects tokens."""

    def __init__(
        self, core: AuthCore, keyring: Keyring, minter: AccessTokenMinter, verifier: Verifier
    ) -> None:
        self._core = core
        self._keyring = keyring
        self._minter = minter
        self._verifier = verifier
        self._settings = core.config.auth

    # ------------------------------------------------------------- helpers
    def _mint(
        self,
        subject: str,
        *,
        scope: str,
        roles: tuple[str, ...],
        client_id: str,
        sid: str | None,
        csrf_token: str | None,
    ) -> MintedToken:
        extra = {"csrf": csrf_claim_for(csrf_token)} if csrf_token else None
        return self._minter.mint(
            subject, scope=scope or None, roles=roles, client_id=client_id, sid=sid, extra=extra
        )

    def verify_access(self, token: str) -> VerifiedToken:
        """Verify an access token of this issuer (signature, claims, revocation)."""
        return self._verifier.verify(token)

    async def authenticate_client(self, client_id: str, secret: str) -> ClientRecord:
        """RFC 6749 2.3.1 client authentication; :class:`InvalidClient` on any failure."""
        record = await self._core.users.get_client(client_id) if len(client_id) <= 128 else None
        expected = record.secret_hash if record is not None else _DUMMY_CLIENT_HASH
        ok = hmac.compare_digest(hash_client_secret(secret), expected)
        if record is None or not ok:
            self._core.audit.emit("client_auth_failure", client_id=client_id[:128])
            raise InvalidClient()
        return record

    # --------------------------------------------------------------- login
    async def login(
        self,
        username: str,
        password: str,
        *,
        scope: str | None,
        ip: str,
        delivery: int,
        client_id: str | None = None,
    ) -> Issued:
        """Password login (``/login`` and the password grant); one family per login."""
        core, now = self._core, self._core.clock()
        clean, record = await core.login_state(username, ip, now)
        if len(password) > _MAX_PASSWORD_CHARS:
            ok = False  # never feed unbounded input to argon2; still indistinguishable
        else:
            ok = await core.passwords.verify(record.password_hash if record else None, password)
        if record is None or not ok or record.info.disabled:
            lockouts = await core.throttle.record_failure(username, ip, now)
            reason = "disabled" if ok and record is not None else "bad_credentials"
            core.audit.emit("login_failure", user=username[:64], ip=ip, reason=reason)
            for lock in lockouts:
                core.audit.emit(
                    "lockout", user=username[:64], ip=ip, scope=lock.scope, seconds=lock.seconds
                )
            raise LoginRequired()
        granted = _scope_subset(scope, self._settings.user_scopes)
        if not clean:
            await core.throttle.record_success(username, ip, now)
        if core.passwords.needs_rehash(record.password_hash):
            new_hash = await core.passwords.hash(password)
            await core.users.set_hash_if_unchanged(username, record.password_hash, new_hash, now)
            core.audit.emit("password_rehashed", user=username)
        client = client_id or self._settings.login_client_id
        family, refresh, refresh_exp = await core.refresh.create_family(
            username, client, granted, delivery, now
        )
        csrf = new_csrf_token() if delivery != DELIVERY_BODY else None
        access = self._mint(
            username,
            scope=granted,
            roles=record.info.roles,
            client_id=client,
            sid=family.id,
            csrf_token=csrf,
        )
        core.audit.emit(
            "login_success",
            user=username,
            ip=ip,
            family=family.id,
            jti=access.jti,
            client_id=client,
        )
        return Issued(access, granted, delivery, refresh, refresh_exp, family, csrf)

    # ------------------------------------------------------------- refresh
    async def refresh(
        self, token: str, *, scope: str | None, ip: str, client: ClientRecord | None
    ) -> Issued:
        """``grant_type=refresh_token`` with rotation and reuse detection (RFC 6749 6)."""
        core = self._core
        outcome = await core.refresh.rotate(token, core.clock())
        if isinstance(outcome, Reuse):
            core.audit.emit(
                "refresh_reuse_detected",
                family=outcome.family.id,
                user=outcome.family.username,
                ip=ip,
            )
            await core.revoke_family(outcome.family.id, "refresh_reuse")
            raise InvalidGrant()
        family = outcome.family
        if family.client_id != self._settings.login_client_id and (
            client is None or client.info.client_id != family.client_id
        ):
            # A confidential client's refresh token needs that client's credentials
            # (RFC 6749 section 6); the rotation already happened, so revoke the family.
            await core.revoke_family(family.id, "refresh_client_mismatch")
            raise InvalidGrant()
        if outcome.roles is None or outcome.disabled:
            await core.revoke_family(family.id, "user_disabled")
            raise InvalidGrant()
        granted = family.scope if scope is None else _scope_subset(scope, family.scope.split())
        csrf = new_csrf_token() if family.delivery != DELIVERY_BODY else None
        access = self._mint(
            family.username,
            scope=granted,
            roles=outcome.roles,
            client_id=family.client_id,
            sid=family.id,
            csrf_token=csrf,
        )
        core.audit.emit("refresh", user=family.username, family=family.id, jti=access.jti, ip=ip)
        return Issued(
            access, granted, family.delivery, outcome.token, outcome.expires_at, family, csrf
        )

    # -------------------------------------------------- client credentials
    async def client_credentials(self, client: ClientRecord, scope: str | None) -> Issued:
        """RFC 6749 4.4: an access token for the client itself; no refresh token (4.4.3)."""
        granted = _scope_subset(scope, client.info.scopes)
        access = self._mint(
            client.info.client_id,
            scope=granted,
            roles=client.info.roles,
            client_id=client.info.client_id,
            sid=None,
            csrf_token=None,
        )
        self._core.audit.emit("client_credentials", client_id=client.info.client_id, jti=access.jti)
        return Issued(access, granted)

    # ------------------------------------------------------------- logouts
    async def logout(self, caller: VerifiedToken) -> None:
        """Revoke the caller's access token (``jti``) and its refresh family (``sid``)."""
        core = self._core
        if caller.jti:
            await core.revoke_jti(caller.jti, float(caller.exp), "logout")
        if caller.sid:
            await core.revoke_family(caller.sid, "logout")
        core.audit.emit("logout", user=caller.subject, family=caller.sid, jti=caller.jti)

    async def logout_family(self, family: Family) -> None:
        """Logout with only a refresh cookie (the access token already expired)."""
        await self._core.revoke_family(family.id, "logout")
        self._core.audit.emit("logout", user=family.username, family=family.id)

    async def logout_all(self, subject: str) -> int:
        """Revoke every family of ``subject`` and every older token; returns the family count."""
        families = await self._core.revoke_subject(subject, "logout_all")
        self._core.audit.emit("logout_all", user=subject, families=len(families))
        return len(families)

    # ---------------------------------------------------------- RFC 7009
    async def revoke(self, token: str, hint: str | None, client: ClientRecord | None) -> None:
        """RFC 7009 revocation; unknown, invalid and expired tokens are silently ignored."""
        public = self._settings.login_client_id
        order = ("refresh", "access") if hint != "access_token" else ("access", "refresh")
        for kind in order:
            if kind == "refresh":
                family = await self._core.refresh.family_of_any(token)
                if family is None:
                    continue
                self._check_owner(family.client_id, client, public)
                if family.revoked_at is None:
                    await self._core.revoke_family(family.id, "revoked")
                return
            try:
                verified = self.verify_access(token)
            except TokenError:
                continue
            self._check_owner(verified.client_id, client, public)
            if verified.jti:
                await self._core.revoke_jti(verified.jti, float(verified.exp), "revoked")
            return

    @staticmethod
    def _check_owner(owner: str | None, client: ClientRecord | None, public: str) -> None:
        if client is None:
            if owner != public:
                raise InvalidClient("this token belongs to a confidential client")
        elif client.info.client_id != owner:
            # RFC 7009 section 2.1: a client may only revoke its own tokens.
            raise UnauthorizedClient("the token was not issued to this client")

    # ---------------------------------------------------------- RFC 7662
    async def introspect(self, token: str, hint: str | None) -> dict[str, Any]:
        """RFC 7662 introspection; ``{"active": false}`` for anything not currently valid."""
        if hint != "refresh_token" and token.count(".") == 2:
            try:
                v = self.verify_access(token)
            except TokenError:
                return {"active": False}
            out: dict[str, Any] = {"active": True, "token_type": "Bearer"}
            for name in (
                "scope",
                "client_id",
                "sub",
                "aud",
                "iss",
                "exp",
                "iat",
                "jti",
                "sid",
                "roles",
            ):
                if name in v.claims:
                    out[name] = v.claims[name]
            return out
        family = await self._core.refresh.lookup(token, self._core.clock())
        if family is None:
            return {"active": False}
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": family.client_id,
            "sub": family.username,
            "username": family.username,
            "scope": family.scope,
            "sid": family.id,
            "iat": int(family.created_at),
            "exp": int(family.expires_at),
        }
