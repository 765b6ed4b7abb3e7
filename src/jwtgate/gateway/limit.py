"""Stage 6: the route's rate limit, keyed by subject, client IP or a claim.

Buckets are per route (``<route>|<kind>|<value>``). A subject or claim key
on a request without that value (anonymous on an ``optional`` route, claim
absent) falls back to the client address, so leaving the token out never
escapes the limit.
"""

from __future__ import annotations

from jwtgate.gateway.compile import CompiledRoute
from jwtgate.gateway.errors import RateLimited
from jwtgate.gateway.ratelimit import MemoryRateLimiter, RateLimiter
from jwtgate.jose import VerifiedToken

__all__ = ["check_rate", "check_rate_now"]

# Bucket keys of subject limits, by route name and subject: the same users
# come back request after request, and finding the key costs less than
# building (and hashing) it again. A key is a function of the two names, so
# it cannot go stale; a route's table is emptied when full (bounded memory).
_SUBJECT_KEYS: dict[str, dict[str, str]] = {}
_SUBJECT_KEYS_MAX = 4096


def _subject_key(route: str, subject: str) -> str:
    key = f"{route}|sub|{subject}"
    keys = _SUBJECT_KEYS.setdefault(route, {})
    if len(keys) >= _SUBJECT_KEYS_MAX:
        keys.clear()
    keys[subject] = key
    return key


def _key(route: CompiledRoute, token: VerifiedToken | None, client_ip: str) -> str:
    spec = route.rate_limit
    if spec is not None and token is not None:
        if spec.kind == "subject" and token.subject:
            return _subject_key(route.name, token.subject)
        if spec.kind == "claim" and spec.claim is not None:
            value = token.claims.get(spec.claim)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                return f"{route.name}|claim|{value}"
    return f"{route.name}|ip|{client_ip}"


async def check_rate(
    limiter: RateLimiter, route: CompiledRoute, token: VerifiedToken | None, client_ip: str
) -> None:
    """Charge one request to the route's bucket; raise :class:`RateLimited` when empty."""
    spec = route.rate_limit
    if spec is None:
        return
    key = _key(route, token, client_ip)
    decision = await limiter.hit(key, spec.rate, spec.burst)
    if not decision.allowed:
        raise RateLimited(decision.retry_after)


def check_rate_now(
    limiter: MemoryRateLimiter, route: CompiledRoute, token: VerifiedToken | None, client_ip: str
) -> None:
    """:func:`check_rate` for the in-process limiter, without an ``await``."""
    spec = route.rate_limit
    if spec is None:
        return
    if token is not None and spec.kind == "subject":
        # _key's first case, from its table: it holds no empty or absent
        # subject (_key only adds truthy ones), so those miss and go to _key.
        try:
            key = _SUBJECT_KEYS[route.name][token.subject]  # type: ignore[index]
        except KeyError:
            key = _key(route, token, client_ip)
    else:
        key = _key(route, token, client_ip)
    retry = limiter.take(key, spec.rate, spec.burst)
    if retry:
        raise RateLimited(retry)
