"""Mint -> verify round trips, key binding and the public API surface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jwtgate.clock import FrozenClock
from jwtgate.errors import AlgorithmMismatch, KeyMaterialError, TokenError, TokenExpired, WeakKey
from jwtgate.jose import (
    ALGORITHMS,
    AccessTokenMinter,
    IssuerPolicy,
    Keyring,
    LifetimeTooLong,
    ReservedClaim,
    SigningKey,
    StaticKeySource,
    Verifier,
    decode_unverified,
    generate_key,
    hmac_key,
    load_pem_key,
    verification_key_from_jwk,
    verify_jws,
)
from jwtgate.jose.jws import sign_compact

ISSUER = "https://issuer.test"


class _Holder:
    def __init__(self, key: SigningKey) -> None:
        self.active = key


def _verifier(key: SigningKey, clock: FrozenClock, **kw: object) -> Verifier:
    policy = IssuerPolicy(
        ISSUER,
        frozenset({"api"}),
        frozenset({key.alg}),
        StaticKeySource([key.verification_key()]),
    )
    return Verifier([policy], clock=clock, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_mint_verify_roundtrip(
    alg: str, session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    key = session_keys[alg]
    minter = AccessTokenMinter(_Holder(key), issuer=ISSUER, audience="api", clock=clock)
    minted = minter.mint("alice", scope=["read", "write"], roles=["admin"], sid="fam1")
    result = _verifier(key, clock).verify(minted.token)
    assert result.subject == "alice"
    assert result.scopes == {"read", "write"}
    assert result.roles == {"admin"}
    assert result.sid == "fam1"
    assert result.kid == key.kid == minted.kid
    assert result.alg == alg
    assert result.header["typ"] == "at+jwt"
    assert result.exp == minted.exp == minted.iat + 900
    assert len(minted.jti) >= 22  # 128 bits in base64url
    header, claims = decode_unverified(minted.token)
    assert header == {"typ": "at+jwt", "alg": alg, "kid": key.kid}
    assert claims["client_id"] == "jwtgate"


def test_expiry_uses_the_injected_clock(
    session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    key = session_keys["ES256"]
    token = AccessTokenMinter(_Holder(key), issuer=ISSUER, audience="api", clock=clock).mint(
        "bob", ttl=60
    )
    verifier = _verifier(key, clock)
    verifier.verify(token.token)
    clock.advance(60 + 29)
    verifier.verify(token.token)  # inside the 30 s leeway (cache hit re-checks time)
    clock.advance(1)
    with pytest.raises(TokenExpired):
        verifier.verify(token.token)
    assert verifier.cache_hits == 1


@pytest.mark.parametrize("alg", sorted(ALGORITHMS - {"HS256"}))
def test_pem_and_jwk_roundtrip(alg: str, session_keys: dict[str, SigningKey]) -> None:
    key = session_keys[alg]
    again = load_pem_key(key.private_pem(), alg)
    assert again.kid == key.kid
    vk = verification_key_from_jwk(key.public_jwk())
    assert vk.kid == key.kid
    assert vk.alg == alg
    token = sign_compact({"kid": key.kid}, b"{}", key)
    assert verify_jws(token, vk) == b"{}"


def test_pem_key_type_must_match_alg(session_keys: dict[str, SigningKey]) -> None:
    with pytest.raises(KeyMaterialError):
        load_pem_key(session_keys["ES256"].private_pem(), "RS256")
    with pytest.raises(KeyMaterialError):
        load_pem_key(session_keys["RS256"].private_pem(), "EdDSA")


def test_hs256_key_has_no_public_form(session_keys: dict[str, SigningKey]) -> None:
    key = session_keys["HS256"]
    with pytest.raises(KeyMaterialError):
        key.public_jwk()
    with pytest.raises(KeyMaterialError):
        key.private_pem()
    assert len(key.secret_bytes()) == 32


@pytest.mark.parametrize(
    "secret",
    [b"", b"short", b"x" * 32, b"correct horse battery staple!!!!", b"\x00" * 64, bytes(31)],
    ids=["empty", "short", "repeated", "passphrase", "zeros", "31-bytes"],
)
def test_weak_hmac_secrets_are_refused(secret: bytes) -> None:
    with pytest.raises(WeakKey):
        hmac_key(secret)


def test_rsa_below_2048_is_weak() -> None:
    with pytest.raises(WeakKey):
        generate_key("RS256", rsa_bits=1024)


def test_ttl_cap_and_reserved_claims(
    session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    minter = AccessTokenMinter(
        _Holder(session_keys["EdDSA"]),
        issuer=ISSUER,
        audience="api",
        default_ttl=300,
        max_ttl=600,
        clock=clock,
    )
    with pytest.raises(LifetimeTooLong) as err:
        minter.mint("alice", ttl=601)
    assert err.value.code == "ttl_exceeds_max"
    assert err.value.status == 400
    with pytest.raises(ReservedClaim):
        minter.mint("alice", extra={"iss": "https://evil"})
    minted = minter.mint("alice", extra={"tenant": "t1"})
    assert minted.claims["tenant"] == "t1"


def test_hs256_verifier_key_never_verifies_rs256(
    session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    # CVE-2016-10555: a token signed with HMAC keyed by the RSA public key PEM.
    rsa_key = session_keys["RS256"]
    verifier = _verifier(rsa_key, clock)
    honest = AccessTokenMinter(_Holder(rsa_key), issuer=ISSUER, audience="api", clock=clock)
    claims = decode_unverified(honest.mint("alice").token)[1]
    pem = rsa_key.verification_key().public_pem()
    import hashlib
    import hmac as std_hmac
    import json

    from jwtgate.jose._codec import b64url_encode

    header = {"typ": "at+jwt", "alg": "HS256", "kid": rsa_key.kid}
    signing_input = (
        b64url_encode(json.dumps(header).encode())
        + "."
        + b64url_encode(json.dumps(claims).encode())
    )
    sig = std_hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + b64url_encode(sig)
    with pytest.raises(Exception) as err:
        verifier.verify(forged)
    assert err.value.code in {"alg_not_allowed", "alg_key_mismatch"}  # type: ignore[attr-defined]
    relaxed = IssuerPolicy(
        ISSUER,
        frozenset({"api"}),
        frozenset({"RS256", "HS256"}),
        StaticKeySource([rsa_key.verification_key()]),
    )
    with pytest.raises(AlgorithmMismatch):
        Verifier([relaxed], clock=clock).verify(forged)


def test_keyring_persists_with_owner_only_permissions(tmp_path: Path, clock: FrozenClock) -> None:
    ring = Keyring.open(tmp_path, clock=clock)
    keys_dir = tmp_path / "keys"
    assert keys_dir.stat().st_mode & 0o777 == 0o700
    pem = keys_dir / f"{ring.active.kid}.pem"
    assert pem.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE" not in (keys_dir / "keyring.json").read_bytes()
    again = Keyring.open(tmp_path, clock=clock, create=False)
    assert again.active.kid == ring.active.kid
    with pytest.raises(KeyMaterialError):
        Keyring.open(tmp_path / "nothing", create=False)


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda t: t + "=", "bad_base64url"),
        (lambda t: t.replace(".", "..", 1), "malformed_token"),
        (lambda t: "{" + t, "json_serialization_rejected"),
        (lambda t: "x" * 70_000, "token_too_large"),
    ],
    ids=["padding", "four-segments", "json-serialization", "over-64KiB"],
)
def test_decode_unverified_is_strict_on_structure(
    mutate: Any, code: str, session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    token = (
        AccessTokenMinter(
            _Holder(session_keys["ES256"]), issuer=ISSUER, audience="api", clock=clock
        )
        .mint("alice")
        .token
    )
    with pytest.raises(TokenError) as err:
        decode_unverified(mutate(token))
    assert err.value.code == code


def test_decode_unverified_shows_alg_none_tokens(forge: Any) -> None:
    """Display only: decode shows even an unsigned token; verification never accepts it."""
    token = forge.enc({"alg": "none"}) + "." + forge.enc({"sub": "x"}) + "."
    header, claims = decode_unverified(token)
    assert header == {"alg": "none"}
    assert claims == {"sub": "x"}
