"""Every Wycheproof JWS and JWK vector through jwtgate's signature layer.

Source: C2SP/wycheproof ``testvectors_v1`` (json_web_signature_test.json,
json_web_key_test.json), laid out beside the repository in ``../shared/``.
The vectors are bare JWS objects, not access tokens, so they go through
:func:`jwtgate.jose.verify_jws` (the signature-only entry point the Verifier
itself uses) with the vector's key bound to its algorithm.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from jwtgate.errors import JwtGateError, KeyMaterialError, WeakKey
from jwtgate.jose import JwksKeySet, verification_key_from_jwk, verify_jws
from jwtgate.jose._codec import b64url_decode
from jwtgate.jose.algorithms import SIGNATURE_ALGORITHMS
from jwtgate.jose.jws import parse_compact
from jwtgate.jose.keys import VerificationKey

WYCHEPROOF = Path(__file__).resolve().parents[2] / ".." / "shared" / "wycheproof"
VECTORS = WYCHEPROOF / "testvectors_v1"

pytestmark = pytest.mark.skipif(
    not VECTORS.is_dir(), reason=f"Wycheproof vectors not found at {VECTORS}"
)

# Vectors where jwtgate deliberately differs from the label, with the reason.
JWS_ANOMALIES: dict[int, tuple[bool, str]] = {
    367: (True, "mislabelled invalid: byte-identical to the valid tc357 (Wycheproof README)"),
    370: (True, "mislabelled invalid: byte-identical to the valid tc357 (Wycheproof README)"),
    372: (False, "mislabelled valid: '?' inside a base64url segment (RFC 7515 section 2)"),
    373: (False, "mislabelled valid: '?' inside a base64url segment (RFC 7515 section 2)"),
    346: (False, "PS384 token under a PS256-bound key: one alg per key (RFC 8725 section 3.1)"),
    350: (False, "PS384 token under a PS256-bound key: one alg per key (RFC 8725 section 3.1)"),
    347: (False, "JWK alg 'ES521' is not a JWS algorithm (RFC 7518 section 3.1 says ES512)"),
    351: (False, "JWK alg 'ES521' is not a JWS algorithm (RFC 7518 section 3.1 says ES512)"),
}
JWK_ANOMALIES: dict[int, tuple[bool, str]] = {}

_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


@cache
def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return data


def _cases(name: str) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    if not VECTORS.is_dir():
        return []
    return [
        (test["tcId"], group, test)
        for group in _load(name)["testGroups"]
        for test in group["tests"]
    ]


def _jws_key(group: dict[str, Any]) -> VerificationKey:
    """The group's verification key, as a strict importer sees it (may raise)."""
    jwk = group.get("public") or group["private"]
    try:
        return verification_key_from_jwk(jwk)
    except WeakKey:
        if jwk.get("kty") != "oct":
            raise
        # The "base64" group uses 32 zero bytes as its HMAC key, which jwtgate's
        # key policy refuses (asserted separately below).  Its vectors test
        # base64url handling, so check them with the low-level constructor,
        # which binds the key to its algorithm but applies no strength policy.
        return VerificationKey(b64url_decode(jwk["k"]), jwk["alg"], jwk["kid"])


def _accepts_jws(group: dict[str, Any], token: str) -> bool:
    try:
        key = _jws_key(group)
        verify_jws(token, key)
    except JwtGateError:
        return False
    return True


JWS_CASES = _cases("json_web_signature_test.json")


@pytest.mark.parametrize(
    ("tc_id", "group", "test"), JWS_CASES, ids=[f"tc{c[0]}" for c in JWS_CASES]
)
def test_wycheproof_jws(tc_id: int, group: dict[str, Any], test: dict[str, Any]) -> None:
    expected = test["result"] == "valid"
    if tc_id in JWS_ANOMALIES:
        expected = JWS_ANOMALIES[tc_id][0]
    assert _accepts_jws(group, test["jws"]) is expected, test["comment"]


def test_wycheproof_jws_vector_count() -> None:
    if not JWS_CASES:
        pytest.skip("vectors absent")
    assert len(JWS_CASES) == 401
    assert {c[0] for c in JWS_CASES} >= set(JWS_ANOMALIES)


def test_wycheproof_all_zero_hmac_key_is_refused_by_key_policy() -> None:
    group = next(
        g for g in _load("json_web_signature_test.json")["testGroups"] if g["comment"] == "base64"
    )
    with pytest.raises(WeakKey):
        verification_key_from_jwk(group["private"])


def test_wycheproof_es521_label_is_the_only_problem() -> None:
    """tc347/351: the signature itself is fine once the key is bound to ES512."""
    group = next(
        g
        for g in _load("json_web_signature_test.json")["testGroups"]
        if g["tests"][0]["tcId"] == 347
    )
    jwk = {k: v for k, v in group["public"].items() if k != "alg"}
    key = verification_key_from_jwk(jwk, alg="ES512")
    assert verify_jws(group["tests"][0]["jws"], key)
    with pytest.raises(KeyMaterialError):
        verification_key_from_jwk(group["public"])


def _accepts_jwk(group: dict[str, Any], token: str) -> bool:
    if "public" in group:
        doc, symmetric = group["public"], False
    else:
        # Sets given only as private keys: HMAC sets are private by nature;
        # asymmetric ones are reduced to their public members first.
        keys = group["private"]["keys"]
        symmetric = any(k.get("kty") == "oct" for k in keys)
        doc = {
            "keys": [
                k if k.get("kty") == "oct" else {m: v for m, v in k.items() if m not in _PRIVATE}
                for k in keys
            ]
        }
    try:
        keyset = JwksKeySet.parse(doc, algorithms=SIGNATURE_ALGORITHMS, allow_symmetric=symmetric)
        kid = parse_compact(token).header.get("kid")
        key = keyset.get(kid) if isinstance(kid, str) else None
        if key is None:
            return False
        verify_jws(token, key)
    except JwtGateError:
        return False
    return True


JWK_CASES = _cases("json_web_key_test.json")


@pytest.mark.parametrize(
    ("tc_id", "group", "test"), JWK_CASES, ids=[f"tc{c[0]}" for c in JWK_CASES]
)
def test_wycheproof_jwk(tc_id: int, group: dict[str, Any], test: dict[str, Any]) -> None:
    expected = test["result"] == "valid"
    if tc_id in JWK_ANOMALIES:
        expected = JWK_ANOMALIES[tc_id][0]
    assert _accepts_jwk(group, test["jws"]) is expected, test["comment"]


def test_wycheproof_jwk_vector_count() -> None:
    if not JWK_CASES:
        pytest.skip("vectors absent")
    assert len(JWK_CASES) == 26
