"""Interop: jwtgate tokens verify in PyJWT and joserfc from the published JWKS only,
and PyJWT-signed tokens with a jwtgate key verify in jwtgate."""

from __future__ import annotations

import json
import warnings
from typing import Any

import jwt as pyjwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from jwtgate.clock import FrozenClock
from jwtgate.jose import AccessTokenMinter, IssuerPolicy, Keyring, Verifier

ISSUER = "https://issuer.test"
ASYMMETRIC = ("ES256", "EdDSA", "PS256", "RS256")


@pytest.fixture(scope="module", params=ASYMMETRIC)
def ring(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    """A keyring of one algorithm; rotated once so the JWKS holds two keys."""
    keyring = Keyring.open(
        tmp_path_factory.mktemp("ring"),
        algorithm=request.param,
        rsa_bits=2048,
        clock=FrozenClock(1_800_000_000.0),
    )
    keyring.rotate()
    return keyring


def _published_jwks(ring: Keyring) -> dict[str, Any]:
    # Only what an HTTP client would see: the JSON text of the JWKS.
    doc: dict[str, Any] = json.loads(json.dumps(ring.jwks()))
    assert len(doc["keys"]) == 2
    for jwk in doc["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)
    return doc


def test_pyjwt_verifies_jwtgate_tokens_from_jwks(ring: Keyring, clock: FrozenClock) -> None:
    minted = AccessTokenMinter(ring, issuer=ISSUER, audience="api", clock=clock).mint(
        "alice", scope="read"
    )
    jwks = pyjwt.PyJWKSet.from_dict(_published_jwks(ring))
    kid = pyjwt.get_unverified_header(minted.token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = pyjwt.decode(
        minted.token,
        key,
        algorithms=[ring.active.alg],
        audience="api",
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == "alice"
    assert claims["jti"] == minted.jti


def test_joserfc_verifies_jwtgate_tokens_from_jwks(ring: Keyring, clock: FrozenClock) -> None:
    minted = AccessTokenMinter(ring, issuer=ISSUER, audience="api", clock=clock).mint("bob")
    keyset = KeySet.import_key_set(_published_jwks(ring))  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc: "EdDSA" deprecated by RFC 9864
        token = jose_jwt.decode(minted.token, keyset, algorithms=[ring.active.alg])
    JWTClaimsRegistry(
        now=int(clock()),
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": "api"},
        sub={"essential": True, "value": "bob"},
    ).validate(token.claims)
    assert token.header["typ"] == "at+jwt"


def test_pyjwt_signed_tokens_verify_in_jwtgate(ring: Keyring, clock: FrozenClock) -> None:
    active = ring.active
    pem = ring.export_private_pem(active.kid)
    now = int(clock())
    claims = {
        "iss": ISSUER,
        "sub": "carol",
        "aud": ["other", "api"],
        "exp": now + 300,
        "iat": now,
        "jti": "pyjwt-1",
        "client_id": "third-party",
        "scope": "read write",
    }
    token = pyjwt.encode(
        claims, pem, algorithm=active.alg, headers={"kid": active.kid, "typ": "at+jwt"}
    )
    policy = IssuerPolicy(ISSUER, frozenset({"api"}), frozenset({active.alg}), ring)
    result = Verifier([policy], clock=clock).verify(token)
    assert result.subject == "carol"
    assert result.scopes == {"read", "write"}
    assert result.client_id == "third-party"
