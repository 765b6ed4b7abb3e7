"""Strict JWKS parsing and single-JWK import (RFC 7517, RFC 8725 section 3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jwtgate.errors import KeyMaterialError, WeakKey
from jwtgate.jose import (
    JwksKeySet,
    SigningKey,
    StaticKeySource,
    SwappableKeySource,
    generate_key,
    verification_key_from_jwk,
)
from jwtgate.jose.keys import has_roca_fingerprint


def _jwk(key: SigningKey, **over: Any) -> dict[str, Any]:
    jwk = key.public_jwk()
    for k, v in over.items():
        if v is None:
            jwk.pop(k, None)
        else:
            jwk[k] = v
    return jwk


def test_parse_bytes_text_and_mapping(session_keys: dict[str, SigningKey]) -> None:
    doc = {"keys": [session_keys[a].public_jwk() for a in ("ES256", "EdDSA", "RS256")]}
    for data in (doc, json.dumps(doc), json.dumps(doc).encode()):
        keyset = JwksKeySet.parse(data)
        assert keyset.kids == {session_keys[a].kid for a in ("ES256", "EdDSA", "RS256")}
        got = keyset.get(session_keys["ES256"].kid)
        assert got is not None
        assert got.alg == "ES256"
        assert keyset.skipped == 0


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("RFC7517-5 not an object", lambda k: b"[]"),
        ("RFC7517-5 keys missing", lambda k: {"nokeys": []}),
        ("RFC7517-5 keys not a list", lambda k: {"keys": {}}),
        ("RFC7517-5 entry not an object", lambda k: {"keys": ["x"]}),
        ("RFC8259 duplicate member", lambda k: b'{"keys": [], "keys": []}'),
        (
            "RFC7517-4.5 duplicate kid (Wycheproof DuplicateKid)",
            lambda k: {"keys": [_jwk(k), _jwk(k)]},
        ),
        ("private member d", lambda k: {"keys": [_jwk(k, d="AAAA")]}),
        (
            "symmetric key in a public JWKS",
            lambda k: {"keys": [{"kty": "oct", "k": "AAAA", "kid": "s", "alg": "HS256"}]},
        ),
        ("RFC7518-6.2.1 point not on curve", lambda k: {"keys": [_jwk(k, y=_jwk(k)["x"])]}),
        ("RFC7518-6.2.1.2 short coordinate", lambda k: {"keys": [_jwk(k, x="AAAA")]}),
        ("RFC7518-6.2.1 wrong curve", lambda k: {"keys": [_jwk(k, crv="P-384")]}),
        ("RFC7517-4.1 wrong kty", lambda k: {"keys": [_jwk(k, kty="RSA")]}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_broken_documents_are_rejected(
    case: str, make: Any, session_keys: dict[str, SigningKey]
) -> None:
    with pytest.raises(KeyMaterialError):
        JwksKeySet.parse(make(session_keys["ES256"]))


@pytest.mark.parametrize(
    ("case", "over"),
    [
        ("no kid", {"kid": None}),
        ("no alg", {"alg": None}),
        ("alg jwtgate does not accept", {"alg": "ES384"}),
        ("RFC7517-4.2 use enc", {"use": "enc"}),
        ("RFC7517-4.3 key_ops without verify", {"key_ops": ["encrypt"]}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unusable_keys_are_skipped(
    case: str, over: dict[str, Any], session_keys: dict[str, SigningKey]
) -> None:
    good = session_keys["EdDSA"].public_jwk()
    keyset = JwksKeySet.parse({"keys": [good, _jwk(session_keys["ES256"], **over)]})
    assert keyset.kids == {good["kid"]}
    assert keyset.skipped == 1


def test_weak_rsa_in_jwks_rejects_document() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from jwtgate.jose._codec import b64url_encode

    small = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "alg": "RS256",
        "kid": "small",
        "n": b64url_encode(small.n.to_bytes(128, "big")),
        "e": "AQAB",
    }
    with pytest.raises(WeakKey):
        JwksKeySet.parse({"keys": [jwk]})
    with pytest.raises(WeakKey):
        verification_key_from_jwk(
            {**jwk, "n": b64url_encode((2**2048 - 1).to_bytes(256, "big")), "e": "AQ"}
        )


@pytest.mark.parametrize(
    ("case", "over", "alg"),
    [
        ("RFC8725-3.1 alg param differs from JWK alg", {}, "RS256"),
        ("RFC7517-4.4 no alg anywhere", {"alg": None}, None),
        ("unsupported alg", {"alg": "ES224"}, None),
        ("private member with public use", {"d": "AAAA"}, None),
        ("kid not a string", {"kid": 5}, None),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_single_jwk_import_is_strict(
    case: str, over: dict[str, Any], alg: str | None, session_keys: dict[str, SigningKey]
) -> None:
    with pytest.raises(KeyMaterialError):
        verification_key_from_jwk(_jwk(session_keys["ES256"], **over), alg=alg)


def test_jwk_without_alg_binds_to_given_alg(session_keys: dict[str, SigningKey]) -> None:
    key = verification_key_from_jwk(_jwk(session_keys["ES256"], alg=None), alg="ES256")
    assert key.alg == "ES256"
    assert key.kid == session_keys["ES256"].kid


def test_swappable_source_versions(session_keys: dict[str, SigningKey]) -> None:
    inner = StaticKeySource([session_keys["ES256"].verification_key()])
    swap = SwappableKeySource(inner)
    v1 = swap.version
    inner.set_keys([])
    v2 = swap.version
    assert v2 != v1
    swap.swap(JwksKeySet.parse({"keys": [session_keys["EdDSA"].public_jwk()]}))
    assert swap.version != v2
    assert swap.get(session_keys["EdDSA"].kid) is not None


def test_generated_keys_have_no_roca_fingerprint() -> None:
    key = generate_key("RS256", rsa_bits=2048)
    jwk = key.public_jwk()
    from jwtgate.jose._codec import b64url_decode

    assert not has_roca_fingerprint(int.from_bytes(b64url_decode(jwk["n"]), "big"))
