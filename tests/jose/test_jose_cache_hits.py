"""Cache hits answer exactly as a full verification would, at any later time.

A hit compares against bounds computed once per entry and reuses the
revocation answer while the view applies no event; these tests pin both
against the uncached path, which runs every check from scratch.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.clock import FrozenClock
from jwtgate.errors import TokenError
from jwtgate.jose import IssuerPolicy, SigningKey, StaticKeySource, Verifier, hmac_key
from jwtgate.revocation import RevocationEvent, RevocationKind, RevocationView

from .conftest import AUDIENCE, ISSUER, NOW, claims, forge_token, header

_KEY: SigningKey = hmac_key(bytes(range(1, 33)))


def _outcome(verify: Any, token: str) -> str:
    try:
        verify(token)
    except TokenError as exc:
        return exc.code
    return "ok"


def _verifier(clock: FrozenClock, revocation: RevocationView | None = None, **kw: Any) -> Verifier:
    source = StaticKeySource([_KEY.verification_key()])
    policy = IssuerPolicy(ISSUER, frozenset({AUDIENCE}), frozenset({"HS256"}), source, **kw)
    return Verifier([policy], clock=clock, revocation=revocation)


_offsets = st.one_of(
    st.integers(-4000, 4000),
    st.floats(-4000, 4000, allow_nan=False),
    st.sampled_from([0, 30, -30, 0.5, 1e-9, -1e-9, 3600, 3630, 3630.000001]),
)


@settings(max_examples=300, deadline=None)
@given(
    exp=_offsets,
    iat=_offsets,
    nbf=st.none() | _offsets,
    leeway=st.sampled_from([0.0, 30.0, 0.5, 1e-7]),
    lifetime=st.sampled_from([3600.0, 60.0, 1.0]),
    moves=st.lists(_offsets, min_size=1, max_size=4),
)
def test_hit_time_checks_match_full_verification(
    exp: float, iat: float, nbf: float | None, leeway: float, lifetime: float, moves: list[float]
) -> None:
    body = claims(exp=NOW + exp, iat=NOW + iat, nbf=None if nbf is None else NOW + nbf)
    token = forge_token(_KEY, header(_KEY), body)
    clock = FrozenClock(float(NOW))
    cached = _verifier(clock, leeway=leeway, max_lifetime=lifetime)
    fresh = _verifier(clock, leeway=leeway, max_lifetime=lifetime)
    if _outcome(cached.verify, token) != "ok":
        return  # nothing was cached
    for move in moves:
        clock.now = NOW + move
        assert _outcome(cached.verify, token) == _outcome(fresh.verify_uncached, token)


_events = st.lists(
    st.tuples(
        st.sampled_from(list(RevocationKind)),
        st.sampled_from(["alice", "bob", "jti-0123456789abcdef", "other", "fam-1"]),
        st.integers(-5, 5),
    ),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(_events, min_size=1, max_size=4))
def test_hit_revocation_matches_full_verification(
    batches: list[list[tuple[RevocationKind, str, int]]],
) -> None:
    clock = FrozenClock(float(NOW))
    view = RevocationView(clock)
    cached = _verifier(clock, view)
    fresh = _verifier(clock, view)
    tokens = [
        forge_token(_KEY, header(_KEY), claims(sub=sub, sid="fam-1", iat=NOW + d))
        for sub, d in (("alice", 0), ("bob", 2))
    ]
    for token in tokens:
        cached.verify(token)
    for batch in batches:
        for kind, value, not_before in batch:
            view.apply(RevocationEvent(kind, value, NOW + 3600, not_before=NOW + not_before))
        for token in tokens:
            for _ in range(2):  # the second hit may reuse the first one's answer
                assert _outcome(cached.verify, token) == _outcome(fresh.verify_uncached, token)


class _TimedView(RevocationView):
    """A view whose answer changes with time alone (no event applied)."""

    __slots__ = ("after",)

    def is_revoked(self, jti: str | None, sid: str | None, sub: str | None, iat: float) -> bool:
        return self._clock() >= self.after


def test_hits_ask_a_subclassed_view_every_time() -> None:
    clock = FrozenClock(float(NOW))
    view = _TimedView(clock)
    view.after = NOW + 10
    verifier = _verifier(clock, view)
    token = forge_token(_KEY, header(_KEY), claims())
    verifier.verify(token)
    verifier.verify(token)
    clock.advance(10)
    assert _outcome(verifier.verify, token) == "token_revoked"
    assert verifier.cache_hits == 1
