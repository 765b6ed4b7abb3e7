"""Keyring: states, rotation, pre-published keys, storage and cross-process reload."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from jwtgate.clock import FrozenClock
from jwtgate.errors import KeyMaterialError, TokenError
from jwtgate.jose import (
    AccessTokenMinter,
    IssuerPolicy,
    Keyring,
    KeyState,
    Verifier,
)

ISSUER = "https://issuer.test"


def _open(path: Path, clock: FrozenClock, **kw: Any) -> Keyring:
    return Keyring.open(path, retain_seconds=1000, clock=clock, **kw)


def test_rotation_keeps_previous_key_verify_only_until_retained(
    tmp_path: Path, clock: FrozenClock
) -> None:
    ring = _open(tmp_path, clock)
    first = ring.active
    version = ring.version
    minter = AccessTokenMinter(ring, issuer=ISSUER, audience="api", clock=clock)
    old_token = minter.mint("alice", ttl=900).token
    second = ring.rotate()
    assert second.kid != first.kid
    assert ring.version != version
    states = {i.kid: (i.state, i.verify_until) for i in ring.infos()}
    assert states[first.kid] == (KeyState.VERIFY_ONLY, clock() + 1000)
    assert states[second.kid] == (KeyState.ACTIVE, None)
    assert {k["kid"] for k in ring.jwks()["keys"]} == {first.kid, second.kid}
    policy = IssuerPolicy(ISSUER, frozenset({"api"}), frozenset({"ES256"}), ring)
    verifier = Verifier([policy], clock=clock)
    assert verifier.verify(old_token).kid == first.kid
    clock.advance(1000)
    assert ring.get(first.kid) is None
    with pytest.raises(TokenError) as err:
        verifier.verify(old_token)  # the cached result re-checks the key
    assert err.value.code in {"unknown_kid", "token_expired"}
    assert ring.maybe_rotate(10_000) is False
    retired = {i.kid: i.state for i in ring.infos()}
    assert retired[first.kid] is KeyState.RETIRED
    assert not (tmp_path / "keys" / f"{first.kid}.pem").exists()
    assert first.kid not in {k["kid"] for k in ring.jwks()["keys"]}
    with pytest.raises(KeyMaterialError):
        ring.export_private_pem(first.kid)


def test_generate_pre_publishes_and_rotate_promotes(tmp_path: Path, clock: FrozenClock) -> None:
    ring = _open(tmp_path, clock)
    active = ring.active
    info = ring.generate()
    assert info.state is KeyState.VERIFY_ONLY
    assert info.verify_until is None
    assert ring.active.kid == active.kid
    assert info.kid in {k["kid"] for k in ring.jwks()["keys"]}
    clock.advance(10**6)
    assert ring.get(info.kid) is not None  # no end date while pre-published
    promoted = ring.rotate()
    assert promoted.kid == info.kid


def test_maybe_rotate_by_age(tmp_path: Path, clock: FrozenClock) -> None:
    ring = _open(tmp_path, clock)
    first = ring.active.kid
    assert ring.maybe_rotate(3600) is False
    clock.advance(3600)
    assert ring.maybe_rotate(3600) is True
    assert ring.active.kid != first


def test_other_process_rotation_is_picked_up(tmp_path: Path, clock: FrozenClock) -> None:
    auth = _open(tmp_path, clock)
    gateway = _open(tmp_path, clock, create=False)
    assert gateway.reload_if_changed() is False
    new = auth.rotate()
    token = AccessTokenMinter(auth, issuer=ISSUER, audience="api", clock=clock).mint("a").token
    # An unknown kid makes the gateway's keyring look at the disk (rate-limited).
    verifier = Verifier(
        [IssuerPolicy(ISSUER, frozenset({"api"}), frozenset({"ES256"}), gateway)], clock=clock
    )
    assert verifier.verify(token).kid == new.kid
    assert gateway.active.kid == new.kid


def test_unknown_kid_disk_checks_are_rate_limited(tmp_path: Path, clock: FrozenClock) -> None:
    ring = _open(tmp_path, clock)
    assert ring.get("no-such-kid-000000") is None
    other = _open(tmp_path, clock)
    new = other.rotate()
    assert ring.get(new.kid) is None  # checked less than a second ago
    clock.advance(1.0)
    assert ring.get(new.kid) is not None


@pytest.mark.parametrize("alg", ["HS256", "EdDSA", "RS256"])
def test_storage_modes_and_no_secrets_in_metadata(
    alg: str, tmp_path: Path, clock: FrozenClock
) -> None:
    ring = _open(tmp_path, clock, algorithm=alg, rsa_bits=2048)
    keys = tmp_path / "keys"
    assert keys.stat().st_mode & 0o777 == 0o700
    files = [p for p in keys.iterdir() if p.name not in ("keyring.json", ".lock")]
    assert len(files) == 1
    assert files[0].stat().st_mode & 0o777 == 0o600
    meta = (keys / "keyring.json").read_bytes()
    assert files[0].read_bytes() not in meta
    assert b"PRIVATE" not in meta
    if alg == "HS256":
        assert ring.jwks() == {"keys": []}  # symmetric keys are never published
        with pytest.raises(KeyMaterialError):
            ring.export_private_pem(ring.active.kid)
    else:
        assert ring.export_private_pem(ring.active.kid).startswith(b"-----BEGIN PRIVATE KEY")


def test_group_readable_key_file_is_refused(tmp_path: Path, clock: FrozenClock) -> None:
    ring = _open(tmp_path, clock)
    os.chmod(tmp_path / "keys" / f"{ring.active.kid}.pem", 0o644)
    with pytest.raises(KeyMaterialError) as err:
        _open(tmp_path, clock)
    assert "readable by others" in err.value.description


@pytest.mark.parametrize(
    "mutate",
    [
        lambda doc: "{not json",
        lambda doc: json.dumps({"keys": "x"}),
        lambda doc: json.dumps({"keys": [{**doc["keys"][0], "kid": "../../etc/passwd"}]}),
        lambda doc: json.dumps({"keys": [{**doc["keys"][0], "state": "bogus"}]}),
        lambda doc: json.dumps({"keys": [{**doc["keys"][0], "kid": "A" * 43}]}),
    ],
    ids=["not-json", "keys-not-list", "path-traversal-kid", "bad-state", "kid-file-mismatch"],
)
def test_corrupt_metadata_is_a_clear_key_error(
    mutate: Any, tmp_path: Path, clock: FrozenClock
) -> None:
    _open(tmp_path, clock)
    meta = tmp_path / "keys" / "keyring.json"
    meta.write_text(mutate(json.loads(meta.read_text())))
    with pytest.raises(KeyMaterialError):
        _open(tmp_path, clock)


def test_rotate_to_another_algorithm(tmp_path: Path, clock: FrozenClock) -> None:
    ring = _open(tmp_path, clock)
    new = ring.rotate(algorithm="EdDSA")
    assert new.alg == "EdDSA"
    assert sorted(i.alg for i in ring.infos()) == ["ES256", "EdDSA"]


def test_promoted_key_ages_from_activation(tmp_path: Path, clock: FrozenClock) -> None:
    ring = _open(tmp_path, clock)
    pending = ring.generate()
    clock.advance(5000)
    assert ring.rotate().kid == pending.kid
    # Generated 5000 s ago but active only now: not due for a 3600 s rotation.
    assert ring.maybe_rotate(3600) is False
    assert ring.active.kid == pending.kid


def test_due_rotation_happens_once_across_processes(tmp_path: Path, clock: FrozenClock) -> None:
    first = _open(tmp_path, clock)
    second = _open(tmp_path, clock)
    clock.advance(3600)
    assert first.maybe_rotate(3600) is True
    # The second process re-reads the keyring (and re-checks under the lock),
    # sees the fresh key and does not rotate again.
    assert second.maybe_rotate(3600) is False
    assert len(second.infos()) == 2


def test_retire_stops_trusting_a_leaked_key_at_once(tmp_path: Path, clock: FrozenClock) -> None:
    ring = _open(tmp_path, clock)
    leaked = ring.active
    minter = AccessTokenMinter(ring, issuer=ISSUER, audience="api", clock=clock)
    token = minter.mint("alice", ttl=900).token
    policy = IssuerPolicy(ISSUER, frozenset({"api"}), frozenset({"ES256"}), ring)
    verifier = Verifier([policy], clock=clock)
    assert verifier.verify(token).kid == leaked.kid  # now cached
    with pytest.raises(KeyMaterialError, match="rotate first"):
        ring.retire(leaked.kid)  # there must always be a key to sign with
    ring.rotate()
    ring.retire(leaked.kid)
    states = {i.kid: i.state for i in ring.infos()}
    assert states[leaked.kid] is KeyState.RETIRED
    assert leaked.kid not in {k["kid"] for k in ring.jwks()["keys"]}
    assert not (tmp_path / "keys" / f"{leaked.kid}.pem").exists()
    with pytest.raises(TokenError) as err:
        verifier.verify(token)  # the cache entry is dropped with the key
    assert err.value.code == "unknown_kid"
    other = _open(tmp_path, clock)  # another process reading the same keyring
    assert other.get(leaked.kid) is None
    with pytest.raises(KeyMaterialError, match="no key"):
        ring.retire("no-such-kid")
