"""Signing and verification keys, each bound to exactly one algorithm.

A key never changes algorithm (RFC 7517 section 4.4, RFC 8725 section 3.1):
binding is what defeats algorithm confusion (CVE-2016-10555, where an RSA
public key was accepted as an HMAC secret).  The ``kid`` of a generated key is
its RFC 7638 thumbprint, computed by joserfc.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from jwtgate.errors import KeyMaterialError, WeakKey
from jwtgate.jose._codec import b64url_decode
from jwtgate.jose.algorithms import (
    ALGORITHMS,
    AlgSpec,
    Signer,
    VerifyFn,
    check_key_type,
    make_signer,
    make_verifier,
    spec_for,
)

__all__ = [
    "SigningKey",
    "VerificationKey",
    "check_hmac_secret",
    "generate_key",
    "hmac_key",
    "load_pem_key",
    "verification_key_from_jwk",
]

_MIN_RSA_BITS = 2048  # RFC 7518 section 3.3, NIST SP 800-57
_EC_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _jose_key(public: Any) -> Any:
    """The joserfc key for a public key object or HMAC secret (for RFC 7638 and JWK export)."""
    if isinstance(public, bytes):
        return OctKey.import_key(public)
    if isinstance(public, rsa.RSAPublicKey):
        return RSAKey.import_key(public)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return ECKey.import_key(public)
    return OKPKey.import_key(public)


def _thumbprint(public: Any) -> str:
    return str(_jose_key(public).thumbprint())


class VerificationKey:
    """A public key (or HMAC secret) bound to one algorithm, with a prebuilt verifier."""

    __slots__ = ("_public", "alg", "kid", "spec", "verify")

    kid: str
    alg: str
    spec: AlgSpec
    verify: VerifyFn
    """``verify(signing_input, signature) -> bool`` (a cryptography call)."""

    def __init__(self, public: Any, alg: str, kid: str | None = None) -> None:
        spec = spec_for(alg)
        check_key_type(spec, public)
        if spec.family in ("RS", "PS") and public.key_size < _MIN_RSA_BITS:
            raise WeakKey(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
        self._public = public
        self.alg = alg
        self.spec = spec
        self.kid = kid if kid is not None else _thumbprint(public)
        self.verify = make_verifier(spec, public)

    @property
    def is_symmetric(self) -> bool:
        """True for HMAC keys, which are never published."""
        return self.spec.family == "HS"

    def public_jwk(self) -> dict[str, Any]:
        """Public JWK members plus ``kid``, ``alg`` and ``use: sig``; refuses HMAC keys."""
        if self.is_symmetric:
            raise KeyMaterialError("symmetric keys have no public form")
        jwk: dict[str, Any] = dict(_jose_key(self._public).as_dict(private=False))
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk

    def public_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM of an asymmetric key; refuses HMAC keys."""
        if self.is_symmetric:
            raise KeyMaterialError("symmetric keys have no public form")
        return self._public.public_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def __repr__(self) -> str:
        return f"VerificationKey(kid={self.kid!r}, alg={self.alg!r})"


class SigningKey:
    """A private key (or HMAC secret) bound to exactly one algorithm; immutable."""

    __slots__ = ("_private", "_sign", "_verification", "alg", "kid")

    kid: str
    alg: str
    _private: Any
    _sign: Signer
    _verification: VerificationKey

    def __init__(self, private: Any, alg: str) -> None:
        if alg not in ALGORITHMS:
            raise KeyMaterialError("unsupported algorithm", detail=f"alg={alg!r}")
        spec = spec_for(alg)
        check_key_type(spec, private)
        public = private if isinstance(private, bytes) else private.public_key()
        verification = VerificationKey(public, alg)
        object.__setattr__(self, "_private", private)
        object.__setattr__(self, "_sign", make_signer(spec, private))
        object.__setattr__(self, "_verification", verification)
        object.__setattr__(self, "alg", alg)
        object.__setattr__(self, "kid", verification.kid)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SigningKey is immutable")

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature over ``signing_input`` (RFC 7515 section 5.1)."""
        return self._sign(signing_input)

    def verification_key(self) -> VerificationKey:
        """The matching verification key (the same object every time)."""
        return self._verification

    def public_jwk(self) -> dict[str, Any]:
        """Public members plus kid, alg, use; :class:`KeyMaterialError` for HS256."""
        return self.verification_key().public_jwk()

    def private_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM; HMAC keys raise (use :meth:`secret_bytes`)."""
        if isinstance(self._private, bytes):
            raise KeyMaterialError("HMAC keys have no PEM form")
        return self._private.private_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def secret_bytes(self) -> bytes:
        """The HMAC secret (HS256 only)."""
        if not isinstance(self._private, bytes):
            raise KeyMaterialError("only HMAC keys have a secret")
        return self._private

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


def generate_key(alg: str = "ES256", *, rsa_bits: int = 3072) -> SigningKey:
    """A fresh key for ``alg``; RSA below 2048 bits raises :class:`WeakKey`."""
    if alg == "HS256":
        return SigningKey(secrets.token_bytes(32), alg)
    if alg in ("RS256", "PS256"):
        if rsa_bits < _MIN_RSA_BITS:
            raise WeakKey(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
        return SigningKey(rsa.generate_private_key(65537, rsa_bits), alg)
    if alg == "ES256":
        return SigningKey(ec.generate_private_key(ec.SECP256R1()), alg)
    if alg == "EdDSA":
        return SigningKey(ed25519.Ed25519PrivateKey.generate(), alg)
    raise KeyMaterialError("unsupported algorithm", detail=f"alg={alg!r}")


def load_pem_key(pem: bytes, alg: str) -> SigningKey:
    """Load an unencrypted PEM private key; its type must match ``alg``."""
    if alg not in ALGORITHMS or alg == "HS256":
        raise KeyMaterialError("PEM keys are for RS256, PS256, ES256 or EdDSA")
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError("not an unencrypted PEM private key") from exc
    if isinstance(private, rsa.RSAPrivateKey) and private.key_size < _MIN_RSA_BITS:
        raise WeakKey(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
    return SigningKey(private, alg)


def check_hmac_secret(secret: bytes, min_bytes: int = 32) -> None:
    """Refuse short or human-chosen HMAC secrets with :class:`WeakKey`.

    Rules (documented, deliberately simple):

    * at least ``min_bytes`` bytes (RFC 7518 section 3.2: key >= hash size);
    * a secret made only of printable ASCII is treated as human-chosen text
      unless it is at least 64 characters long (hex of 32 random bytes passes;
      pass decoded bytes, not base64 text, for shorter secrets);
    * the empirical byte entropy times the length must reach 128 bits, which
      refuses repetitive secrets such as ``b"a" * 32`` or a repeated word.
    """
    if not isinstance(secret, bytes) or len(secret) < min_bytes:
        raise WeakKey(f"HMAC secrets must be at least {min_bytes} random bytes")
    if all(0x20 <= b < 0x7F for b in secret) and len(secret) < 64:
        raise WeakKey("HMAC secret looks human-chosen; use random bytes")
    total = len(secret)
    entropy = -sum(c / total * math.log2(c / total) for c in Counter(secret).values())
    if entropy * total < 128:
        raise WeakKey("HMAC secret has too little entropy; use random bytes")


def hmac_key(secret: bytes) -> SigningKey:
    """An HS256 signing key from a strong random secret (see :func:`check_hmac_secret`)."""
    check_hmac_secret(secret)
    return SigningKey(bytes(secret), "HS256")


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


def _unchecked_hmac_verification_key(secret: bytes, alg: str, kid: str) -> VerificationKey:
    """An HMAC verification key without the strength policy (conformance vectors only)."""
    return VerificationKey(bytes(secret), alg, kid)
