"""What the HTTP routes need, bundled once at start."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from jwtgate.auth.cookies import SessionCookies
from jwtgate.auth.core import AuthCore
from jwtgate.auth.errors import BearerRequired, InvalidClient, InvalidRequest
from jwtgate.auth.http_io import basic_credentials, bearer_token, client_ip
from jwtgate.auth.service import TokenService
from jwtgate.auth.users import ClientRecord
from jwtgate.config import JwtGateConfig
from jwtgate.jose import Keyring, VerifiedToken

__all__ = ["RouteContext"]


@dataclass(frozen=True, slots=True)
class RouteContext:
    """Shared state of the auth routes."""

    config: JwtGateConfig
    core: AuthCore
    service: TokenService
    keyring: Keyring
    cookies: SessionCookies

    @property
    def body_limit(self) -> int:
        """The request body cap in bytes."""
        return self.config.auth.max_body_bytes

    def ip(self, request: Request) -> str:
        """The client address used for throttling and audit."""
        return client_ip(request, self.config.auth.trust_forwarded_for)

    async def client(self, request: Request, form: dict[str, str]) -> ClientRecord | None:
        """Authenticate the client (RFC 6749 2.3.1) if it presented credentials.

        ``None`` means the public login client (no credentials). Using Basic and
        form credentials together is refused (RFC 6749 section 2.3).
        """
        basic = basic_credentials(request)
        form_id, form_secret = form.get("client_id"), form.get("client_secret")
        if basic is not None:
            if form_secret is not None:
                raise InvalidRequest("use one client authentication method only")
            if form_id is not None and form_id != basic[0]:
                raise InvalidRequest("client_id does not match the authenticated client")
            return await self.service.authenticate_client(*basic)
        if form_secret is not None:
            if form_id is None:
                raise InvalidClient()
            return await self.service.authenticate_client(form_id, form_secret)
        if form_id is not None and form_id != self.config.auth.login_client_id:
            raise InvalidClient()
        return None

    def caller(self, request: Request, *, unsafe: bool) -> VerifiedToken | None:
        """The verified access token of the caller (Bearer, else access cookie + CSRF).

        Returns ``None`` when no access token was presented; raises a
        ``TokenError`` when one was presented but is not valid.
        """
        token = bearer_token(request)
        if token is not None:
            return self.service.verify_access(token)
        token = self.cookies.access_cookie(request)
        if token is None:
            return None
        verified = self.service.verify_access(token)
        if unsafe:
            self.cookies.require_csrf_claim_match(request, verified.claims.get("csrf"))
        return verified

    def require_caller(self, request: Request, *, unsafe: bool) -> VerifiedToken:
        """Like :meth:`caller` but :class:`BearerRequired` when none was presented."""
        verified = self.caller(request, unsafe=unsafe)
        if verified is None:
            raise BearerRequired()
        return verified
