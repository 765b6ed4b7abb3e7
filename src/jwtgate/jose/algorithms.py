"""The JWS algorithm table: one small spec per algorithm, bound to `cryptography`.

Every signature check and every signature ends in a call to ``cryptography``
(OpenSSL); this module only selects the primitive and enforces the encoding
rules of RFC 7518 around it.  A key is bound to exactly one algorithm
(RFC 7517 section 4.4, RFC 8725 section 3.1), so the functions here take a
spec chosen by the key, never by a token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.hmac import HMAC

from jwtgate.errors import KeyMaterialError

__all__ = [
    "ALGORITHMS",
    "SIGNATURE_ALGORITHMS",
    "AlgSpec",
    "Signer",
    "VerifyFn",
    "make_signer",
    "make_verifier",
    "spec_for",
]

ALGORITHMS: frozenset[str] = frozenset({"ES256", "RS256", "PS256", "EdDSA", "HS256"})
"""Algorithms jwtgate mints with and that a policy may allow."""

VerifyFn = Callable[[bytes, bytes], bool]
"""``verify(signing_input, signature) -> bool``; never raises for a bad signature."""
Signer = Callable[[bytes], bytes]
"""``sign(signing_input) -> signature`` in JWS encoding."""

# Group orders (SEC 2 / FIPS 186-4 D.1.2), used to refuse r or s outside
# [1, n-1] before OpenSSL sees them (CVE-2022-21449 "psychic signatures").
_ORDERS = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "P-384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "P-521": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}
_COORD = {"P-256": 32, "P-384": 48, "P-521": 66}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


@dataclass(frozen=True, slots=True)
class AlgSpec:
    """What an algorithm needs: JWK key type, curve and hash (RFC 7518 section 3.1)."""

    name: str
    family: str  # "HS", "RS", "PS", "ES" or "EdDSA"
    kty: str
    crv: str | None = None
    hash_bits: str | None = None


def _build_specs() -> dict[str, AlgSpec]:
    specs = {"EdDSA": AlgSpec("EdDSA", "EdDSA", "OKP", "Ed25519")}
    for bits in ("256", "384", "512"):
        specs[f"HS{bits}"] = AlgSpec(f"HS{bits}", "HS", "oct", None, bits)
        specs[f"RS{bits}"] = AlgSpec(f"RS{bits}", "RS", "RSA", None, bits)
        specs[f"PS{bits}"] = AlgSpec(f"PS{bits}", "PS", "RSA", None, bits)
    specs["ES256"] = AlgSpec("ES256", "ES", "EC", "P-256", "256")
    specs["ES384"] = AlgSpec("ES384", "ES", "EC", "P-384", "384")
    specs["ES512"] = AlgSpec("ES512", "ES", "EC", "P-521", "512")
    return specs


# The signature layer knows the whole RFC 7518 JWS family so that conformance
# vectors can be checked; only ALGORITHMS can be minted or allowed by a policy.
_SPECS = _build_specs()

SIGNATURE_ALGORITHMS: frozenset[str] = frozenset(_SPECS)
"""Every JWS algorithm the signature layer can check (RFC 7518 section 3.1)."""


def spec_for(alg: str) -> AlgSpec:
    """The spec of a supported JWS algorithm, or :class:`KeyMaterialError`."""
    spec = _SPECS.get(alg) if isinstance(alg, str) else None
    if spec is None:
        raise KeyMaterialError("unsupported algorithm", detail=f"alg={alg!r}")
    return spec


def _hash(spec: AlgSpec) -> hashes.HashAlgorithm:
    if spec.hash_bits is None:  # EdDSA has no separate hash; never asked for one
        raise KeyMaterialError("algorithm has no hash", detail=f"alg={spec.name}")
    return _HASHES[spec.hash_bits]()


def check_key_type(spec: AlgSpec, key: Any) -> None:
    """Raise :class:`KeyMaterialError` unless ``key`` is the kind ``spec`` needs."""
    ok: bool
    if spec.family == "HS":
        ok = isinstance(key, bytes)
    elif spec.family in ("RS", "PS"):
        ok = isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey)
    elif spec.family == "ES":
        ok = isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and (
            isinstance(key.curve, _CURVES[spec.crv or ""])
        )
    else:
        ok = isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey)
    if not ok:
        raise KeyMaterialError(f"key type does not match algorithm {spec.name}")


def make_verifier(spec: AlgSpec, key: Any) -> VerifyFn:
    """Build the per-key verify callable once, so the hot path is one call."""
    check_key_type(spec, key)
    if spec.family == "HS":
        return _hmac_verifier(key, spec)
    if spec.family == "EdDSA":
        return _eddsa_verifier(key)
    if spec.family == "ES":
        return _ecdsa_verifier(key, spec)
    return _rsa_verifier(key, spec)


def _hmac_verifier(secret: bytes, spec: AlgSpec) -> VerifyFn:
    algo = _HASHES[spec.hash_bits or ""]()  # immutable: one instance serves every call

    def verify(data: bytes, sig: bytes) -> bool:
        mac = HMAC(secret, algo)
        mac.update(data)
        try:
            mac.verify(sig)  # constant-time comparison inside OpenSSL
        except InvalidSignature:
            return False
        return True

    return verify


def _eddsa_verifier(key: ed25519.Ed25519PublicKey) -> VerifyFn:
    def verify(data: bytes, sig: bytes) -> bool:
        if len(sig) != 64:  # RFC 8032 section 5.1.7
            return False
        try:
            key.verify(sig, data)
        except InvalidSignature:
            return False
        return True

    return verify


def _ecdsa_verifier(key: ec.EllipticCurvePublicKey, spec: AlgSpec) -> VerifyFn:
    size = _COORD[spec.crv or ""]
    order = _ORDERS[spec.crv or ""]
    algo = ec.ECDSA(_hash(spec))

    def verify(data: bytes, sig: bytes) -> bool:
        # RFC 7518 section 3.4: the JWS signature is R || S, each exactly the
        # coordinate size; DER is built only after the range check below.
        if len(sig) != 2 * size:
            return False
        r = int.from_bytes(sig[:size], "big")
        s = int.from_bytes(sig[size:], "big")
        if not (0 < r < order and 0 < s < order):
            return False
        try:
            key.verify(encode_dss_signature(r, s), data, algo)
        except InvalidSignature:
            return False
        return True

    return verify


def _rsa_verifier(key: rsa.RSAPublicKey, spec: AlgSpec) -> VerifyFn:
    size = (key.key_size + 7) // 8
    algo = _hash(spec)
    pad: padding.AsymmetricPadding
    if spec.family == "PS":
        # RFC 7518 section 3.5: MGF1 with the same hash, salt = hash length.
        pad = padding.PSS(mgf=padding.MGF1(_hash(spec)), salt_length=algo.digest_size)
    else:
        pad = padding.PKCS1v15()

    def verify(data: bytes, sig: bytes) -> bool:
        if len(sig) != size:  # RFC 8017 section 8.2.2 step 1
            return False
        try:
            key.verify(sig, data, pad, algo)
        except InvalidSignature:
            return False
        return True

    return verify


def make_signer(spec: AlgSpec, key: Any) -> Signer:
    """Build the per-key signing callable (JWS signature encoding)."""
    check_key_type(spec, key)
    if spec.family == "HS":
        secret: bytes = key

        def sign_hmac(data: bytes) -> bytes:
            mac = HMAC(secret, _hash(spec))
            mac.update(data)
            return mac.finalize()

        return sign_hmac
    if spec.family == "EdDSA":
        return key.sign  # type: ignore[no-any-return]
    if spec.family == "ES":
        size = _COORD[spec.crv or ""]
        algo = ec.ECDSA(_hash(spec))

        def sign_ec(data: bytes) -> bytes:
            r, s = decode_dss_signature(key.sign(data, algo))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return sign_ec
    algo_h = _hash(spec)
    pad: padding.AsymmetricPadding
    if spec.family == "PS":
        pad = padding.PSS(mgf=padding.MGF1(_hash(spec)), salt_length=algo_h.digest_size)
    else:
        pad = padding.PKCS1v15()

    def sign_rsa(data: bytes) -> bytes:
        return key.sign(data, pad, algo_h)  # type: ignore[no-any-return]

    return sign_rsa
