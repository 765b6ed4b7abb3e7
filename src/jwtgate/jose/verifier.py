"""The one place access tokens are verified, with a bounded verified-token cache.

Order of checks for a token not in the cache:

1. structure, canonical base64url, strict JSON, header rules (:mod:`.jws`);
2. the *untrusted* ``iss`` selects one :class:`IssuerPolicy` (dict lookup);
3. ``alg`` must be in that policy's allow-list (RFC 8725 section 3.1);
4. ``kid`` must name a key in that issuer's key source, and the token's
   ``alg`` must be the key's one algorithm (CVE-2016-10555);
5. the signature (one ``cryptography`` call);
6. claims (:mod:`.claims`) and revocation.

Nothing read in steps 1-4 is trusted: it only chooses what to check against.

The cache maps the exact token string to its verified result.  A hit re-runs
the time checks and the revocation check, and confirms the key source still
returns the *same* key object for the kid; any change of the key source's
``version`` drops the whole cache.  The time checks compare against bounds
computed once per entry, and the revocation answer is reused while the
revocation view has applied no new event (its ``applied`` count).  Failures
are never cached: a negative entry would let an attacker fill the cache with garbage, and failing is
already the cheap path for most malformed input.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from jwtgate.clock import Clock, system_clock
from jwtgate.errors import (
    AlgorithmMismatch,
    AlgorithmNotAllowed,
    BadSignature,
    ConfigError,
    InvalidClaim,
    IssuerMismatch,
    MissingClaim,
    TokenError,
    TokenRevoked,
    TokenTooLarge,
    UnknownKeyId,
)
from jwtgate.jose._codec import _dumps, _loads, orjson_keys, parse_json_object
from jwtgate.jose.claims import check_time, validate_claims
from jwtgate.jose.jws import parse_token
from jwtgate.jose.policy import IssuerPolicy, VerifiedToken
from jwtgate.revocation.base import RevocationView

__all__ = ["Verifier"]

_ISS, _NBF = orjson_keys("iss", "nbf")  # found by identity in orjson's dicts


# A cache entry, unpacked in one step on every hit:
# (result, policy, key, version, start, deadline, nbf, applied).
# ``start`` is the latest of iat and nbf and ``deadline`` is exp + leeway, both
# computed once: a hit then needs three comparisons to see that check_time()
# would pass (exp - iat never changes, so its bound is not re-checked).
# ``applied`` is the revocation view's event count when the token was last
# found not revoked; is_revoked() depends only on events, so while the count
# is unchanged the answer is too.
_Entry = list[Any]


class Verifier:
    """Verifies access tokens of one or more trusted issuers."""

    def __init__(
        self,
        policies: Iterable[IssuerPolicy],
        *,
        clock: Clock = system_clock,
        cache_size: int = 10_000,
        revocation: RevocationView | None = None,
    ) -> None:
        self._policies: dict[str, IssuerPolicy] = {}
        for policy in policies:
            if policy.issuer in self._policies:
                raise ConfigError("two issuer policies share one issuer")
            self._policies[policy.issuer] = policy
        if not self._policies:
            raise ConfigError("a verifier needs at least one issuer policy")
        self._max_bytes = max(p.max_token_bytes for p in self._policies.values())
        self._clock = clock
        self._cache_size = max(0, int(cache_size))
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._revocation = revocation
        # Only the plain view is known to change its answers only through
        # apply(), which counts them; a subclass may decide otherwise.
        self._memo_revocation = type(revocation) is RevocationView
        self.cache_hits = 0
        self.cache_misses = 0

    @property
    def policies(self) -> tuple[IssuerPolicy, ...]:
        """The configured policies."""
        return tuple(self._policies.values())

    def clear_cache(self) -> None:
        """Forget every verified token."""
        self._cache.clear()

    def verify(self, token: str) -> VerifiedToken:
        """Verify ``token`` (cache first); raise a :class:`TokenError` subclass."""
        entry = self._cache.get(token)  # always empty when the cache is disabled
        if entry is not None:
            result: VerifiedToken  # annotations only: no runtime cost
            policy: IssuerPolicy
            result, policy, key, version, start, deadline, nbf, applied = entry
            keys = policy.keys
            if keys.version != version:
                self._cache.clear()  # the trusted key set changed
            elif keys.get(key.kid) is not key:
                self._cache.pop(token, None)
            else:
                now = self._clock()
                # check_time()'s pass conditions; if one fails, it raises the first error.
                if not (
                    now < deadline
                    and start <= now + policy.leeway
                    and result.exp - now <= policy._horizon
                ):
                    try:
                        check_time(policy, now, result.exp, result.iat, nbf)
                    except TokenError:
                        self._cache.pop(token, None)
                        raise
                view = self._revocation
                if view is not None and view.applied != applied:
                    entry[7] = self._check_revoked(view, result)
                # Not contextlib.suppress: that is three Python calls per hit.
                try:  # noqa: SIM105
                    self._cache.move_to_end(token)
                except KeyError:  # another thread may have evicted it
                    pass
                self.cache_hits += 1
                return result
        self.cache_misses += 1
        return self.verify_uncached(token, self._cache_size > 0)

    def _check_revoked(self, view: RevocationView, result: VerifiedToken) -> int:
        """Raise :class:`TokenRevoked` if revoked; else the view's event count.

        The count is read *before* the check, so an event applied meanwhile
        makes the next hit check again; -1 (never a count) when the view's
        answers may change without an event.
        """
        applied = view.applied if self._memo_revocation else -1
        if view.is_revoked(result.jti, result.sid, result.subject, result.iat or 0.0):
            raise TokenRevoked()
        return applied

    def verify_uncached(self, token: str, remember: bool = False) -> VerifiedToken:
        """Verify ``token`` fully, neither reading nor filling the cache.

        (``remember`` is the cache miss path's: it fills the cache.)
        """
        # The order of the checks is the module docstring's; each raises the
        # first error a token has.  ``remember`` fills the cache directly, so
        # the uncached path builds no entry and reads no key-set version.
        (header, alg, kid, typ), payload, signing_input, signature = parse_token(
            token, self._max_bytes
        )
        # parse_json_object()'s first fast path, inline (see there why it is exact).
        try:
            claims = _loads(payload)
            if type(claims) is not dict or _dumps(claims) != payload:
                claims = parse_json_object(payload)
        except (ValueError, TypeError):  # not JSON, or nested too deep to write
            claims = parse_json_object(payload)
        iss = claims.get(_ISS)
        policy = self._policies.get(iss) if type(iss) is str else None
        if policy is None:
            if iss is None:
                raise MissingClaim("the token lacks the iss claim")
            if type(iss) is not str:
                raise InvalidClaim("the iss claim is not a string")
            raise IssuerMismatch()  # RFC 7519 section 4.1.1: exact match only
        if len(token) > policy.max_token_bytes:
            raise TokenTooLarge()
        if alg not in policy.algorithms:
            raise AlgorithmNotAllowed()
        if kid is None:
            raise UnknownKeyId("the token has no key id")
        keys = policy.keys
        # Read before the key: a key set that changes in between leaves an
        # entry with the old version, which the next hit throws away.
        version = keys.version if remember else 0
        key = keys.get(kid)
        if key is None:
            raise UnknownKeyId()
        if key.alg != alg:
            raise AlgorithmMismatch()
        if not key.verify(signing_input, signature):
            raise BadSignature()
        result = validate_claims(policy, claims, self._clock(), header, alg, kid, typ)
        view = self._revocation
        applied = -1 if view is None else self._check_revoked(view, result)
        if remember:
            cache = self._cache
            if len(cache) >= self._cache_size:
                cache.popitem(last=False)  # least recently used
            iat, nbf = result.iat, claims.get(_NBF)
            start = max(-math.inf if iat is None else iat, -math.inf if nbf is None else nbf)
            deadline = result.exp + policy.leeway
            cache[token] = [result, policy, key, version, start, deadline, nbf, applied]
        return result
