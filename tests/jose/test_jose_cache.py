"""The verified-token cache: every hit re-checks time, revocation and key trust."""

from __future__ import annotations

from typing import Any

import pytest

from jwtgate.clock import FrozenClock
from jwtgate.errors import TokenError
from jwtgate.jose import (
    AccessTokenMinter,
    IssuerPolicy,
    SigningKey,
    StaticKeySource,
    Verifier,
    generate_key,
)
from jwtgate.revocation import RevocationEvent, RevocationKind, RevocationView

ISSUER = "https://issuer.test"


class _Holder:
    def __init__(self, key: SigningKey) -> None:
        self.active = key


def _setup(
    key: SigningKey, clock: FrozenClock, **kw: Any
) -> tuple[Verifier, StaticKeySource, AccessTokenMinter]:
    source = StaticKeySource([key.verification_key()])
    policy = IssuerPolicy(ISSUER, frozenset({"api"}), frozenset({key.alg}), source)
    verifier = Verifier([policy], clock=clock, **kw)
    return (
        verifier,
        source,
        AccessTokenMinter(_Holder(key), issuer=ISSUER, audience="api", clock=clock),
    )


def _code(verifier: Verifier, token: str) -> str:
    with pytest.raises(TokenError) as err:
        verifier.verify(token)
    return err.value.code


def test_hits_and_misses_are_counted(
    session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    verifier, _, minter = _setup(session_keys["ES256"], clock)
    token = minter.mint("alice").token
    first = verifier.verify(token)
    second = verifier.verify(token)
    assert second is first
    assert (verifier.cache_hits, verifier.cache_misses) == (1, 1)
    verifier.clear_cache()
    verifier.verify(token)
    assert verifier.cache_misses == 2


@pytest.mark.parametrize(
    ("kind", "value_of"),
    [
        (RevocationKind.JTI, lambda m: m.jti),
        (RevocationKind.SID, lambda m: m.claims["sid"]),
        (RevocationKind.SUB, lambda m: m.claims["sub"]),
    ],
    ids=["RFC7009-jti", "RFC9700-4.14-sid-family", "subject-not-before"],
)
def test_revocation_is_checked_on_every_hit(
    kind: RevocationKind, value_of: Any, session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    view = RevocationView(clock)
    verifier, _, minter = _setup(session_keys["EdDSA"], clock, revocation=view)
    minted = minter.mint("alice", sid="fam-1")
    verifier.verify(minted.token)
    verifier.verify(minted.token)
    view.apply(RevocationEvent(kind, value_of(minted), clock() + 3600, not_before=clock() + 1))
    assert _code(verifier, minted.token) == "token_revoked"
    assert _code(verifier, minted.token) == "token_revoked"
    assert verifier.cache_hits >= 1


def test_key_set_change_clears_the_cache(
    session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    key = session_keys["ES256"]
    verifier, source, minter = _setup(key, clock)
    token = minter.mint("alice").token
    verifier.verify(token)
    source.set_keys([generate_key("ES256").verification_key()])
    assert _code(verifier, token) == "unknown_kid"
    source.set_keys([key.verification_key()])
    verifier.verify(token)
    assert verifier.cache_hits == 0


def test_static_source_lookup_follows_set_keys_uncached(
    session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    """The uncached path reads the source's current set, never a stale dict."""
    from jwtgate.jose import KeySource

    key = session_keys["EdDSA"]
    verifier, source, minter = _setup(key, clock, cache_size=0)
    token = minter.mint("alice").token
    assert isinstance(source, KeySource)
    before = source.get
    source.set_keys([])
    with pytest.raises(TokenError) as err:
        verifier.verify_uncached(token)
    assert err.value.code == "unknown_kid"
    assert before(key.kid) is key.verification_key()  # the old set was replaced, not emptied
    source.set_keys([key.verification_key()])
    assert verifier.verify_uncached(token).kid == key.kid


class _SneakySource:
    """A source that drops a key without bumping its version (a buggy source)."""

    def __init__(self, key: SigningKey) -> None:
        self.keys = {key.kid: key.verification_key()}

    @property
    def version(self) -> int:
        return 1

    def get(self, kid: str) -> Any:
        return self.keys.get(kid)


def test_key_identity_is_rechecked_even_without_version_change(
    session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    key = session_keys["ES256"]
    source = _SneakySource(key)
    policy = IssuerPolicy(ISSUER, frozenset({"api"}), frozenset({"ES256"}), source)
    verifier = Verifier([policy], clock=clock)
    token = (
        AccessTokenMinter(_Holder(key), issuer=ISSUER, audience="api", clock=clock).mint("a").token
    )
    verifier.verify(token)
    source.keys.clear()
    assert _code(verifier, token) == "unknown_kid"


def test_time_is_rechecked_on_hits(session_keys: dict[str, SigningKey], clock: FrozenClock) -> None:
    verifier, _, minter = _setup(session_keys["HS256"], clock)
    token = minter.mint("alice", ttl=60).token
    verifier.verify(token)
    clock.advance(90)
    assert _code(verifier, token) == "token_expired"
    assert verifier.cache_hits == 0


def test_nbf_is_rechecked_on_hits(
    forge: Any, session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    key = session_keys["ES256"]
    verifier, _, _ = _setup(key, clock)
    token = forge.forge(key, forge.header(key), forge.claims(nbf=forge.NOW + 20))
    verifier.verify(token)
    clock.now -= 20  # a clock stepped backwards must not let a hit skip nbf
    assert _code(verifier, token) == "token_not_yet_valid"


def test_cache_is_bounded_lru(session_keys: dict[str, SigningKey], clock: FrozenClock) -> None:
    verifier, _, minter = _setup(session_keys["EdDSA"], clock, cache_size=2)
    a, b, c = (minter.mint(s).token for s in "abc")
    verifier.verify(a)
    verifier.verify(b)
    verifier.verify(a)  # a is now most recent
    verifier.verify(c)  # evicts b
    misses = verifier.cache_misses
    verifier.verify(a)
    assert verifier.cache_misses == misses
    verifier.verify(b)
    assert verifier.cache_misses == misses + 1


def test_failures_are_not_cached(session_keys: dict[str, SigningKey], clock: FrozenClock) -> None:
    verifier, _, minter = _setup(session_keys["ES256"], clock)
    bad = minter.mint("alice").token[:-4] + "AAAA"
    for _ in range(3):
        assert _code(verifier, bad) == "bad_signature"
    assert (verifier.cache_hits, verifier.cache_misses) == (0, 3)


def test_cache_size_zero_disables(session_keys: dict[str, SigningKey], clock: FrozenClock) -> None:
    verifier, _, minter = _setup(session_keys["ES256"], clock, cache_size=0)
    token = minter.mint("alice").token
    verifier.verify(token)
    verifier.verify(token)
    assert verifier.cache_hits == 0


def test_verified_claims_are_read_only(
    session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    verifier, _, minter = _setup(session_keys["ES256"], clock)
    result = verifier.verify(minter.mint("alice").token)
    with pytest.raises(TypeError):
        result.claims["sub"] = "mallory"  # type: ignore[index]
    with pytest.raises(TypeError):
        result.header["alg"] = "none"  # type: ignore[index]
    with pytest.raises(AttributeError):
        result.subject = "mallory"  # type: ignore[misc]


def test_verifier_result_equals_dataclass_construction(
    session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    """validate_claims builds its result through the slot builder: a real, frozen VerifiedToken."""
    import dataclasses

    from jwtgate.jose import VerifiedToken

    verifier, _, minter = _setup(session_keys["ES256"], clock)
    token = minter.mint("alice", scope="b a", roles=["r"], sid="s").token
    result = verifier.verify_uncached(token)
    assert type(result) is VerifiedToken
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(VerifiedToken)}
    assert result == VerifiedToken(**fields)
    assert (fields["scopes"], fields["roles"], fields["sid"]) == ({"a", "b"}, {"r"}, "s")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.exp = 2.0  # type: ignore[misc]
