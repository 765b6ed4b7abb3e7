"""Cookie names and the CSRF double-submit check shared by the auth server and gateway.

Browsers that keep tokens in cookies send them on cross-site requests too, so
every state-changing request authenticated by a cookie must also carry a CSRF
token in a header (double-submit, OWASP CSRF Prevention Cheat Sheet). The
token is bound to the access token: the access token's ``csrf`` claim holds
the SHA-256 of the CSRF token, so a CSRF token from one session never unlocks
another, and the gateway needs no server-side state to check it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = [
    "CSRF_CLAIM",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "CookieNames",
    "cookie_names",
    "csrf_claim_for",
    "csrf_matches",
    "new_csrf_token",
]

CSRF_HEADER = "x-csrf-token"
"""Request header carrying the CSRF token (lower-case, as ASGI presents headers)."""

CSRF_CLAIM = "csrf"
"""Access-token claim holding base64url(SHA-256(csrf token))."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that must not change state (RFC 9110 section 9.2.1); no CSRF check."""


@dataclass(frozen=True, slots=True)
class CookieNames:
    """Names of the three cookies of browser (cookie) mode."""

    access: str
    refresh: str
    csrf: str


def cookie_names(secure: bool) -> CookieNames:
    """Cookie names for a deployment.

    The ``__Host-`` prefix (RFC 6265bis section 4.1.3.2) makes browsers refuse
    the cookie unless it is Secure, host-only and ``Path=/``, which defeats
    cookie injection from sibling subdomains. Browsers also refuse such a
    cookie without ``Secure``, so a plain-HTTP loopback demo that turns
    ``Secure`` off must drop the prefix too.
    """
    prefix = "__Host-" if secure else ""
    return CookieNames(
        access=f"{prefix}jwtgate-access",
        refresh=f"{prefix}jwtgate-refresh",
        csrf=f"{prefix}jwtgate-csrf",
    )


def new_csrf_token() -> str:
    """A fresh CSRF token (256 random bits, base64url)."""
    return secrets.token_urlsafe(32)


def csrf_claim_for(token: str) -> str:
    """The ``csrf`` claim value binding ``token`` to an access token."""
    digest = hashlib.sha256(token.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def csrf_matches(claim: object, presented: str | None) -> bool:
    """Constant-time check that ``presented`` is the CSRF token bound by ``claim``."""
    if not isinstance(claim, str) or not presented or len(presented) > 256:
        return False
    try:
        expected = csrf_claim_for(presented)
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), claim.encode("ascii", "replace"))
