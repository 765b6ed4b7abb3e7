"""The in-process revocation view and the in-memory store."""

from __future__ import annotations

import pytest

from jwtgate.clock import FrozenClock
from jwtgate.revocation import (
    InMemoryRevocationStore,
    RevocationEvent,
    RevocationKind,
    RevocationView,
)

NOW = 1_800_000_000.0


def test_jti_revocation_matches_only_that_token() -> None:
    view = RevocationView(FrozenClock(NOW))
    view.apply(RevocationEvent(RevocationKind.JTI, "j1", NOW + 60))
    assert view.is_revoked("j1", None, "alice", NOW)
    assert not view.is_revoked("j2", None, "alice", NOW)


def test_sid_revocation_matches_every_token_of_the_family() -> None:
    view = RevocationView(FrozenClock(NOW))
    view.apply(RevocationEvent(RevocationKind.SID, "fam", NOW + 60))
    assert view.is_revoked("a", "fam", "alice", NOW)
    assert view.is_revoked("b", "fam", "alice", NOW + 5)
    assert not view.is_revoked("a", "other", "alice", NOW)
    assert not view.is_revoked("a", None, "alice", NOW)


def test_subject_not_before_refuses_only_older_tokens() -> None:
    view = RevocationView(FrozenClock(NOW))
    view.apply(RevocationEvent(RevocationKind.SUB, "alice", NOW + 3600, not_before=NOW))
    assert view.is_revoked("a", None, "alice", NOW - 1)
    assert not view.is_revoked("a", None, "alice", NOW)
    assert not view.is_revoked("a", None, "bob", NOW - 1)


def test_later_not_before_wins_and_earlier_is_ignored() -> None:
    view = RevocationView(FrozenClock(NOW))
    view.apply(RevocationEvent(RevocationKind.SUB, "alice", NOW + 3600, not_before=NOW))
    view.apply(RevocationEvent(RevocationKind.SUB, "alice", NOW + 3600, not_before=NOW - 100))
    assert view.is_revoked(None, None, "alice", NOW - 50)


def test_claims_helper_ignores_non_string_values() -> None:
    view = RevocationView(FrozenClock(NOW))
    view.apply(RevocationEvent(RevocationKind.JTI, "1", NOW + 60))
    assert not view.is_revoked_claims({"jti": 1, "iat": NOW})
    assert view.is_revoked_claims({"jti": "1", "iat": NOW})


def test_prune_forgets_expired_entries_only() -> None:
    clock = FrozenClock(NOW)
    view = RevocationView(clock)
    view.apply(RevocationEvent(RevocationKind.JTI, "old", NOW + 10))
    view.apply(RevocationEvent(RevocationKind.JTI, "new", NOW + 100))
    view.apply(RevocationEvent(RevocationKind.SUB, "s", NOW + 10, not_before=NOW))
    clock.advance(50)
    assert view.prune() == 2
    assert len(view) == 1
    assert view.is_revoked("new", None, None, NOW)


def test_event_json_round_trip_and_rejection() -> None:
    event = RevocationEvent(RevocationKind.SUB, "alice", NOW + 1, not_before=NOW)
    assert RevocationEvent.from_json(event.to_json()) == event
    with pytest.raises(ValueError, match=r"not a valid RevocationKind"):
        RevocationEvent.from_json({"kind": "nope", "value": "x", "expires_at": 1})
    with pytest.raises(ValueError, match="malformed"):
        RevocationEvent.from_json({"value": "x"})


async def test_memory_store_applies_on_publish() -> None:
    store = InMemoryRevocationStore(FrozenClock(NOW))
    await store.start()
    await store.publish(RevocationEvent(RevocationKind.JTI, "j", NOW + 5))
    assert store.view.is_revoked("j", None, None, NOW)
    assert [e.value for e in store.view.snapshot()] == ["j"]
    await store.close()
