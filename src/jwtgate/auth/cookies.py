"""Browser (cookie) mode: setting and clearing the session cookies, the CSRF double-submit.

Refresh (and optionally access) tokens go in HttpOnly, Secure, SameSite=Strict,
``Path=/`` cookies named with the ``__Host-`` prefix (RFC 6265bis 4.1.3.2), so
page scripts cannot read them and sibling hosts cannot inject them. The CSRF
token goes in a readable cookie and in the JSON body; requests authenticated
by a cookie must echo it in ``X-CSRF-Token`` (OWASP CSRF Prevention Cheat
Sheet, "Signed Double-Submit Cookie"), compared in constant time.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from jwtgate.auth.errors import CsrfFailed
from jwtgate.auth.service import DELIVERY_BODY, DELIVERY_COOKIES, Issued
from jwtgate.config.auth import CookieSettings
from jwtgate.csrf import CSRF_HEADER, CookieNames, cookie_names, csrf_matches

__all__ = ["SessionCookies"]


class SessionCookies:
    """Cookie names and flags of one deployment."""

    def __init__(self, settings: CookieSettings) -> None:
        self.secure = settings.secure
        self.names: CookieNames = cookie_names(settings.secure)

    def _set(
        self, response: Response, name: str, value: str, max_age: float, *, httponly: bool
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max(0, int(max_age)),
            path="/",
            secure=self.secure,
            httponly=httponly,
            samesite="strict",
        )

    def apply(self, response: Response, issued: Issued, now: float) -> None:
        """Set the cookies for an issued session (no-op in body mode)."""
        if issued.delivery == DELIVERY_BODY or issued.refresh_token is None:
            return
        lifetime = (issued.refresh_expires or now) - now
        self._set(response, self.names.refresh, issued.refresh_token, lifetime, httponly=True)
        if issued.csrf_token is not None:
            # Readable by the page on purpose: it must echo the value in a header.
            self._set(response, self.names.csrf, issued.csrf_token, lifetime, httponly=False)
        if issued.delivery == DELIVERY_COOKIES:
            self._set(
                response,
                self.names.access,
                issued.access.token,
                issued.access.exp - now,
                httponly=True,
            )

    def clear(self, response: Response) -> None:
        """Expire every session cookie."""
        for name, httponly in (
            (self.names.access, True),
            (self.names.refresh, True),
            (self.names.csrf, False),
        ):
            response.delete_cookie(
                name, path="/", secure=self.secure, httponly=httponly, samesite="strict"
            )

    def refresh_cookie(self, request: Request) -> str | None:
        """The refresh token from its cookie, if any."""
        return request.cookies.get(self.names.refresh) or None

    def access_cookie(self, request: Request) -> str | None:
        """The access token from its cookie, if any."""
        return request.cookies.get(self.names.access) or None

    def require_csrf_cookie_match(self, request: Request) -> None:
        """Double submit: ``X-CSRF-Token`` must equal the CSRF cookie (constant time)."""
        header = request.headers.get(CSRF_HEADER, "")
        cookie = request.cookies.get(self.names.csrf, "")
        if (
            not header
            or not cookie
            or len(header) > 256
            or not hmac.compare_digest(
                header.encode("utf-8", "replace"), cookie.encode("utf-8", "replace")
            )
        ):
            raise CsrfFailed()

    @staticmethod
    def require_csrf_claim_match(request: Request, claim: object) -> None:
        """``X-CSRF-Token`` must hash to the access token's ``csrf`` claim."""
        if not csrf_matches(claim, request.headers.get(CSRF_HEADER)):
            raise CsrfFailed()
