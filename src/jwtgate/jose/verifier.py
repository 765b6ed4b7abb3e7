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
``version`` drops the whole cache.  Failures are never cached: a negative
entry would let an attacker fill the cache with garbage, and failing is
already the cheap path for most malformed input.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import NamedTuple

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
from jwtgate.jose._codec import parse_json_object
from jwtgate.jose.claims import check_time, validate_claims
from jwtgate.jose.jws import parse_token
from jwtgate.jose.keys import VerificationKey
from jwtgate.jose.policy import IssuerPolicy, VerifiedToken
from jwtgate.revocation.base import RevocationView

__all__ = ["Verifier"]


class _Entry(NamedTuple):
    token: VerifiedToken
    policy: IssuerPolicy
    key: VerificationKey
    version: int
    nbf: float | None


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
        entry = self._cache.get(token) if self._cache_size else None
        if entry is not None:
            policy = entry.policy
            if policy.keys.version != entry.version:
                self._cache.clear()  # the trusted key set changed
            elif policy.keys.get(entry.key.kid) is not entry.key:
                self._cache.pop(token, None)
            else:
                result = entry.token
                try:
                    check_time(policy, self._clock(), result.exp, result.iat, entry.nbf)
                except TokenError:
                    self._cache.pop(token, None)
                    raise
                self._check_revoked(result)
                with contextlib.suppress(KeyError):  # another thread may have evicted it
                    self._cache.move_to_end(token)
                self.cache_hits += 1
                return result
        self.cache_misses += 1
        return self._verify(token, self._cache_size > 0)

    def verify_uncached(self, token: str) -> VerifiedToken:
        """Verify ``token`` fully, neither reading nor filling the cache."""
        return self._verify(token, False)

    def _check_revoked(self, result: VerifiedToken) -> None:
        view = self._revocation
        if view is not None and view.is_revoked(
            result.jti, result.sid, result.subject, result.iat or 0.0
        ):
            raise TokenRevoked()

    def _verify(self, token: str, remember: bool) -> VerifiedToken:
        # The order of the checks is the module docstring's; each raises the
        # first error a token has.  ``remember`` fills the cache directly, so
        # the uncached path builds no entry and reads no key-set version.
        (header, alg, kid, typ), payload, signing_input, signature = parse_token(
            token, self._max_bytes
        )
        claims = parse_json_object(payload)
        iss = claims.get("iss")
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
        if view is not None and view.is_revoked(
            result.jti, result.sid, result.subject, result.iat or 0.0
        ):
            raise TokenRevoked()
        if remember:
            cache = self._cache
            if len(cache) >= self._cache_size:
                cache.popitem(last=False)  # least recently used
            cache[token] = _Entry(result, policy, key, version, claims.get("nbf"))
        return result
