"""The revocation view checked on the gateway hot path, and the store protocol.

Three kinds of revocation cover every lifecycle event of RFC 7009 and the
refresh-family rules of the OAuth 2.0 Security BCP (RFC 9700 section 4.14):

* ``jti``  - one access token, until its ``exp``;
* ``sid``  - every access token minted from one refresh family (claim ``sid``);
* ``sub``  - a per-subject not-before time: tokens with ``iat`` older than it are refused
  (logout-everywhere, disabled users, password changes).

The view is a set of in-process dictionaries, so a check is a few hash
lookups; a store keeps the view current (directly, or via Redis pub/sub).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from jwtgate.clock import Clock, system_clock

__all__ = ["RevocationEvent", "RevocationKind", "RevocationStore", "RevocationView"]


class RevocationKind(enum.StrEnum):
    """What a revocation event targets."""

    JTI = "jti"
    SID = "sid"
    SUB = "sub"


@dataclass(frozen=True, slots=True)
class RevocationEvent:
    """One revocation.

    ``value`` is the jti, sid or sub.  ``expires_at`` is when the entry can be
    forgotten because every token it could match has expired.  ``not_before``
    is only used for ``sub``: tokens issued before it are revoked.
    """

    kind: RevocationKind
    value: str
    expires_at: float
    not_before: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (used by distributed stores)."""
        return {
            "kind": self.kind.value,
            "value": self.value,
            "expires_at": self.expires_at,
            "not_before": self.not_before,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RevocationEvent:
        """Inverse of :meth:`to_json`; raises ``ValueError`` on bad input."""
        try:
            return cls(
                kind=RevocationKind(data["kind"]),
                value=str(data["value"]),
                expires_at=float(data["expires_at"]),
                not_before=float(data.get("not_before", 0.0)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError("malformed revocation event") from exc


class RevocationView:
    """In-process revocation state; every check is O(1) and does no I/O.

    Every addition goes through :meth:`apply`, which counts it in ``applied``;
    :meth:`prune` only forgets entries of expired tokens.  So a token found
    not revoked stays not revoked until ``applied`` moves, which lets the
    verifier's cache reuse that answer (:class:`~jwtgate.jose.Verifier`).
    Keep it so: a new way to add revocations must count in ``applied``.
    """

    __slots__ = ("_clock", "_jti", "_sid", "_sub", "applied")

    def __init__(self, clock: Clock = system_clock) -> None:
        self._clock = clock
        self._jti: dict[str, float] = {}
        self._sid: dict[str, float] = {}
        # sub -> (not_before, expires_at)
        self._sub: dict[str, tuple[float, float]] = {}
        self.applied = 0

    def apply(self, event: RevocationEvent) -> None:
        """Record one revocation (idempotent; later not-before times win)."""
        self.applied += 1
        if event.kind is RevocationKind.JTI:
            self._jti[event.value] = max(event.expires_at, self._jti.get(event.value, 0.0))
        elif event.kind is RevocationKind.SID:
            self._sid[event.value] = max(event.expires_at, self._sid.get(event.value, 0.0))
        else:
            old = self._sub.get(event.value)
            if old is None or event.not_before >= old[0]:
                keep = max(event.expires_at, old[1] if old else 0.0)
                self._sub[event.value] = (event.not_before, keep)

    def is_revoked(self, jti: str | None, sid: str | None, sub: str | None, iat: float) -> bool:
        """True if a token with these claims must be refused."""
        if jti is not None and jti in self._jti:
            return True
        if sid is not None and sid in self._sid:
            return True
        if sub is not None:
            entry = self._sub.get(sub)
            if entry is not None and iat < entry[0]:
                return True
        return False

    def is_revoked_claims(self, claims: Mapping[str, Any]) -> bool:
        """:meth:`is_revoked` on a claims mapping."""
        iat = claims.get("iat")
        jti, sid, sub = claims.get("jti"), claims.get("sid"), claims.get("sub")
        return self.is_revoked(
            jti if isinstance(jti, str) else None,
            sid if isinstance(sid, str) else None,
            sub if isinstance(sub, str) else None,
            float(iat) if isinstance(iat, (int, float)) else 0.0,
        )

    def prune(self) -> int:
        """Forget entries whose tokens have all expired; returns how many went."""
        now = self._clock()
        removed = 0
        for table in (self._jti, self._sid):
            dead = [k for k, exp in table.items() if exp < now]
            for k in dead:
                del table[k]
            removed += len(dead)
        dead_sub = [k for k, (_, exp) in self._sub.items() if exp < now]
        for k in dead_sub:
            del self._sub[k]
        return removed + len(dead_sub)

    def snapshot(self) -> list[RevocationEvent]:
        """Every live entry as events (for persistence and resync)."""
        events = [RevocationEvent(RevocationKind.JTI, k, v) for k, v in self._jti.items()]
        events += [RevocationEvent(RevocationKind.SID, k, v) for k, v in self._sid.items()]
        events += [
            RevocationEvent(RevocationKind.SUB, k, exp, nbf) for k, (nbf, exp) in self._sub.items()
        ]
        return events

    def __len__(self) -> int:
        return len(self._jti) + len(self._sid) + len(self._sub)


class RevocationStore(Protocol):
    """Where revocations are published; ``view`` is what the gateway checks."""

    @property
    def view(self) -> RevocationView:
        """The in-process view this store keeps current."""
        ...

    async def start(self) -> None:
        """Load the current state and begin receiving updates."""
        ...

    async def publish(self, event: RevocationEvent) -> None:
        """Record a revocation so every view sees it (this one before returning)."""
        ...

    async def close(self) -> None:
        """Stop receiving updates and release connections."""
        ...
