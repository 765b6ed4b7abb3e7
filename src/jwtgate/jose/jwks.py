"""A :class:`KeySource` parsed strictly from a remote issuer's JWKS (RFC 7517 section 5).

Decisions, in the spirit of RFC 8725:

* The whole document is **rejected** (``KeyMaterialError``) when it signals a
  broken or dangerous publisher: not a JSON object with a ``keys`` array,
  duplicate JSON members, private key members (``d``, ``p``, ``q``, ...),
  symmetric (``oct``) keys, duplicate ``kid`` values (Wycheproof
  "DuplicateKid"), or unusable material for an algorithm we support (weak
  RSA, point not on the curve).
* Keys we could never use are **skipped**: no ``kid`` (lookup is by kid
  only), no ``alg`` (a key must be bound to one algorithm), an algorithm
  jwtgate does not accept, or ``use``/``key_ops`` that exclude signature
  verification.  Real issuers publish such keys beside their signing keys.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Mapping
from typing import Any

from jwtgate.errors import KeyMaterialError, MalformedToken
from jwtgate.jose._codec import parse_json_object
from jwtgate.jose.algorithms import ALGORITHMS
from jwtgate.jose.jwk import verification_key_from_jwk
from jwtgate.jose.keys import VerificationKey
from jwtgate.jose.source import KeySource

__all__ = ["JwksKeySet", "SwappableKeySource"]

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_versions = itertools.count(1)


class JwksKeySet:
    """An immutable set of verification keys from one JWKS document."""

    __slots__ = ("_keys", "_version", "get", "kids", "skipped")

    get: Callable[[str], VerificationKey | None]
    """The key with this kid, or ``None`` (the key dict's own ``get``: one C call per lookup)."""
    kids: frozenset[str]
    skipped: int
    """How many keys were skipped as unusable (see the module docstring)."""

    def __init__(self, keys: Mapping[str, VerificationKey], skipped: int = 0) -> None:
        """Use :meth:`parse`."""
        self._keys = dict(keys)
        self.get = self._keys.get
        self._version = next(_versions)
        self.kids = frozenset(self._keys)
        self.skipped = skipped

    @property
    def version(self) -> int:
        """Unique per parsed document (sets are immutable)."""
        return self._version

    def __len__(self) -> int:
        return len(self._keys)

    @classmethod
    def parse(
        cls,
        data: bytes | str | Mapping[str, Any],
        *,
        algorithms: Collection[str] = ALGORITHMS,
        allow_symmetric: bool = False,
    ) -> JwksKeySet:
        """Parse a JWKS document strictly; raises :class:`KeyMaterialError`.

        ``algorithms``: keys for other algorithms are skipped.  ``allow_symmetric``
        admits ``oct`` keys for a *private*, locally configured key set of shared
        HMAC secrets; even then a set mixing symmetric and asymmetric keys is
        refused (Wycheproof "MixedKeySet": a verifier must never have to guess).
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        if isinstance(data, bytes):
            try:
                doc: Mapping[str, Any] = parse_json_object(data)
            except MalformedToken as exc:
                raise KeyMaterialError("the JWKS is not a strict JSON object") from exc
        elif isinstance(data, Mapping):
            doc = data
        else:
            raise KeyMaterialError("the JWKS must be a JSON object")
        items = doc.get("keys")
        if not isinstance(items, list):
            raise KeyMaterialError("the JWKS has no keys array")
        keys: dict[str, VerificationKey] = {}
        seen: set[str] = set()
        skipped = 0
        if not all(isinstance(item, Mapping) for item in items):
            raise KeyMaterialError("a JWKS entry is not an object")
        symmetric = [item.get("kty") == "oct" for item in items]
        if any(symmetric) and (not allow_symmetric or not all(symmetric)):
            raise KeyMaterialError("a public JWKS must not contain symmetric keys")
        for item in items:
            if item.get("kty") != "oct" and _PRIVATE_MEMBERS.intersection(item):
                raise KeyMaterialError("the JWKS contains private key members")
            kid = item.get("kid")
            if isinstance(kid, str) and kid:
                if kid in seen:
                    raise KeyMaterialError("the JWKS repeats a kid")
                seen.add(kid)
            if not _usable(item, algorithms):
                skipped += 1
                continue
            keys[str(kid)] = verification_key_from_jwk(item)
        return cls(keys, skipped)


def _usable(item: Mapping[str, Any], algorithms: Collection[str]) -> bool:
    kid, alg = item.get("kid"), item.get("alg")
    if not isinstance(kid, str) or not kid or alg not in algorithms:
        return False
    use, ops = item.get("use"), item.get("key_ops")
    if use is not None and use != "sig":
        return False
    return ops is None or (isinstance(ops, list) and "verify" in ops)


class SwappableKeySource:
    """A key source whose current set can be replaced (e.g. after a JWKS refetch)."""

    def __init__(self, initial: KeySource) -> None:
        self._current = initial
        self._inner_seen = initial.version
        self._version = 1

    @property
    def version(self) -> int:
        """Bumped on every :meth:`swap` and whenever the current set's own version changes."""
        inner = self._current.version
        if inner != self._inner_seen:
            self._inner_seen = inner
            self._version += 1
        return self._version

    @property
    def current(self) -> KeySource:
        """The set in use."""
        return self._current

    def get(self, kid: str) -> VerificationKey | None:
        """Delegate to the current set."""
        return self._current.get(kid)

    def swap(self, new: KeySource) -> None:
        """Replace the trusted set (verified-token caches drop their entries)."""
        self._current = new
        self._inner_seen = new.version
        self._version += 1
