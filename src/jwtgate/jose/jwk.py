"""Strict import of a single JWK (RFC 7517) into a one-algorithm :class:`VerificationKey`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jwtgate.errors import KeyMaterialError, WeakKey
from jwtgate.jose._codec import b64url_decode
from jwtgate.jose.algorithms import AlgSpec, spec_for
from jwtgate.jose.keys import VerificationKey, check_hmac_secret

__all__ = ["verification_key_from_jwk"]

_EC_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _b64_member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise KeyMaterialError(f"JWK member {name!r} is missing or not a string")
    try:
        return b64url_decode(value)
    except Exception as exc:
        raise KeyMaterialError(f"JWK member {name!r} is not base64url") from exc


def _public_from_jwk(jwk: Mapping[str, Any], spec: AlgSpec) -> Any:
    kty = jwk.get("kty")
    if kty != spec.kty:
        raise KeyMaterialError(f"JWK kty {kty!r} does not match algorithm {spec.name}")
    if spec.family == "HS":
        secret = _b64_member(jwk, "k")
        check_hmac_secret(secret, min_bytes=int(spec.hash_bits or "256") // 8)
        return secret
    if spec.family in ("RS", "PS"):
        n = int.from_bytes(_b64_member(jwk, "n"), "big")
        e = int.from_bytes(_b64_member(jwk, "e"), "big")
        if e < 3 or e % 2 == 0:  # e = 1 makes every signature trivially forgeable
            raise WeakKey("RSA public exponent is invalid")
        try:
            return rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError as exc:
            raise KeyMaterialError("invalid RSA public key") from exc
    crv = jwk.get("crv")
    if crv != spec.crv:
        raise KeyMaterialError(f"JWK curve {crv!r} does not match algorithm {spec.name}")
    if spec.family == "EdDSA":
        x = _b64_member(jwk, "x")
        if len(x) != 32:
            raise KeyMaterialError("invalid Ed25519 public key")
        return ed25519.Ed25519PublicKey.from_public_bytes(x)
    size = {"P-256": 32, "P-384": 48, "P-521": 66}[str(crv)]
    x, y = _b64_member(jwk, "x"), _b64_member(jwk, "y")
    if len(x) != size or len(y) != size:  # RFC 7518 section 6.2.1.2: full length
        raise KeyMaterialError("EC coordinates have the wrong length")
    curve: ec.EllipticCurve = {
        "P-256": ec.SECP256R1(),
        "P-384": ec.SECP384R1(),
        "P-521": ec.SECP521R1(),
    }[str(crv)]
    try:  # cryptography checks that the point lies on the curve
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
        ).public_key()
    except ValueError as exc:
        raise KeyMaterialError("EC point is not on the curve") from exc


def verification_key_from_jwk(jwk: Mapping[str, Any], *, alg: str | None = None) -> VerificationKey:
    """A :class:`VerificationKey` from one JWK, strictly.

    The algorithm comes from ``jwk["alg"]`` or ``alg`` (both: they must agree;
    neither: refused).  ``kty``/``crv`` must fit the algorithm, ``use`` must be
    ``sig`` and ``key_ops`` must allow ``verify`` when present, RSA keys need
    2048+ bits.  Asymmetric JWKs carrying private members are refused: a public
    key document that leaks a private key must be noticed, not silently used.
    ``kid`` defaults to the RFC 7638 thumbprint.
    """
    if not isinstance(jwk, Mapping):
        raise KeyMaterialError("a JWK must be a JSON object")
    jwk_alg = jwk.get("alg")
    if jwk_alg is not None and alg is not None and jwk_alg != alg:
        raise KeyMaterialError("JWK alg does not match the expected algorithm")
    chosen = alg if alg is not None else jwk_alg
    if not isinstance(chosen, str):
        raise KeyMaterialError("a JWK must name its algorithm (alg)")
    spec = spec_for(chosen)
    if spec.family != "HS" and _PRIVATE_MEMBERS.intersection(jwk):
        raise KeyMaterialError("JWK contains private key members")
    use = jwk.get("use")
    if use is not None and use != "sig":  # RFC 7517 section 4.2
        raise KeyMaterialError("JWK is not a signature key (use)")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise KeyMaterialError("JWK key_ops do not allow verify")  # RFC 7517 section 4.3
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise KeyMaterialError("JWK kid must be a non-empty string")
    return VerificationKey(_public_from_jwk(jwk, spec), chosen, kid)
