"""jwtgate's token engine: keys, keyring, JWKS, minting and strict verification.

This is the only package that imports ``joserfc``; everything else speaks in
the types exported here.
"""

from __future__ import annotations

from jwtgate.jose.algorithms import ALGORITHMS
from jwtgate.jose.jwk import verification_key_from_jwk
from jwtgate.jose.jwks import JwksKeySet, SwappableKeySource
from jwtgate.jose.jws import decode_unverified, verify_jws
from jwtgate.jose.keyring import Keyring
from jwtgate.jose.keyring_store import KeyInfo, KeyState
from jwtgate.jose.keys import (
    SigningKey,
    VerificationKey,
    check_hmac_secret,
    generate_key,
    hmac_key,
    load_pem_key,
)
from jwtgate.jose.mint import (
    AccessTokenMinter,
    InvalidMintRequest,
    LifetimeTooLong,
    MintedToken,
    MintError,
    ReservedClaim,
)
from jwtgate.jose.policy import IssuerPolicy, VerifiedToken
from jwtgate.jose.source import KeySource, StaticKeySource
from jwtgate.jose.verifier import Verifier

__all__ = [
    "ALGORITHMS",
    "AccessTokenMinter",
    "InvalidMintRequest",
    "IssuerPolicy",
    "JwksKeySet",
    "KeyInfo",
    "KeySource",
    "KeyState",
    "Keyring",
    "LifetimeTooLong",
    "MintError",
    "MintedToken",
    "ReservedClaim",
    "SigningKey",
    "StaticKeySource",
    "SwappableKeySource",
    "VerificationKey",
    "VerifiedToken",
    "Verifier",
    "check_hmac_secret",
    "decode_unverified",
    "generate_key",
    "hmac_key",
    "load_pem_key",
    "verification_key_from_jwk",
    "verify_jws",
]
