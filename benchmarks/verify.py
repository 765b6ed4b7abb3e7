"""Verify+claims throughput: jwtgate (uncached, cache hit) vs PyJWT vs joserfc vs raw.

Every candidate verifies the same RFC 9068 access token; the raw row is the
``cryptography`` signature primitive alone on pre-decoded input, and every
other row is reported as a ratio to it.  Rounds are interleaved (each round
runs every candidate once, in a rotating order) and medians are reported,
because shared machines are noisy; rates are per CPU second of this process.

    python benchmarks/verify.py                 # table
    python benchmarks/verify.py --json          # machine-readable
    python benchmarks/verify.py --seconds 0.2 --rounds 7 --algs RS256,ES256
    python benchmarks/verify.py --rsa-bits 3072   # jwtgate's default RSA size
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hmac import HMAC
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from joserfc.jwt import JWTClaimsRegistry

from jwtgate.jose import (
    AccessTokenMinter,
    IssuerPolicy,
    SigningKey,
    StaticKeySource,
    Verifier,
    generate_key,
)
from jwtgate.jose._codec import b64url_decode

ISSUER = "https://issuer.example"
AUDIENCE = "api"
ALGS = ("HS256", "RS256", "ES256", "EdDSA")
CANDIDATES = ("raw", "jwtgate", "jwtgate_cached", "pyjwt", "joserfc")


class _Holder:
    def __init__(self, key: SigningKey) -> None:
        self.active = key


def _raw(key: SigningKey, token: str) -> Callable[[], Any]:
    head, body, sig_b64 = token.split(".")
    data = f"{head}.{body}".encode()
    sig = b64url_decode(sig_b64)
    if key.alg == "HS256":
        secret = key.secret_bytes()
        sha = hashes.SHA256()

        def hs() -> None:
            mac = HMAC(secret, sha)  # an HMAC context serves one message
            mac.update(data)
            mac.verify(sig)

        return hs
    pub = key.verification_key().crypto_key
    # The padding and hash objects are built once, as jwtgate builds them once
    # per key: the raw row is the primitive's call and nothing else.
    if key.alg == "RS256":
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        return lambda: pub.verify(sig, data, pkcs1, sha256)
    if key.alg == "ES256":
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        ecdsa = ec.ECDSA(hashes.SHA256())
        return lambda: pub.verify(der, data, ecdsa)
    return lambda: pub.verify(sig, data)


def _pyjwt(key: SigningKey, token: str) -> Callable[[], Any]:
    k: Any = key.secret_bytes() if key.alg == "HS256" else key.verification_key().crypto_key
    opts: Any = {"require": ["exp", "iat", "iss", "aud", "sub", "jti"]}
    return lambda: pyjwt.decode(
        token, k, algorithms=[key.alg], audience=AUDIENCE, issuer=ISSUER, options=opts
    )


def _joserfc(key: SigningKey, token: str) -> Callable[[], Any]:
    if key.alg == "HS256":
        k: Any = OctKey.import_key(key.secret_bytes())
    else:
        cls: Any = {"RS256": RSAKey, "ES256": ECKey, "EdDSA": OKPKey}[key.alg]
        k = cls.import_key(key.public_jwk())
    registry = JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True},
        jti={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )

    def run() -> None:
        tok = jose_jwt.decode(token, k, algorithms=[key.alg])
        registry.validate(tok.claims)

    return run


def _candidates(alg: str, rsa_bits: int) -> dict[str, Callable[[], Any]]:
    key = generate_key(alg, rsa_bits=rsa_bits)
    token = (
        AccessTokenMinter(_Holder(key), issuer=ISSUER, audience=AUDIENCE)
        .mint("user-1234", scope="read write", roles=["admin"], sid="family-1")
        .token
    )
    policy = IssuerPolicy(
        ISSUER, frozenset({AUDIENCE}), frozenset({alg}), StaticKeySource([key.verification_key()])
    )
    uncached = Verifier([policy], cache_size=0)
    cached = Verifier([policy])
    cached.verify(token)
    funcs = {
        "raw": _raw(key, token),
        "jwtgate": lambda: uncached.verify_uncached(token),
        "jwtgate_cached": lambda: cached.verify(token),
        "pyjwt": _pyjwt(key, token),
        "joserfc": _joserfc(key, token),
    }
    for f in funcs.values():  # every candidate must accept the token
        f()
    return funcs


def _rate(func: Callable[[], Any], seconds: float) -> float:
    # CPU time of this process, not wall time: on a shared machine the
    # scheduler would otherwise decide the result (the work is single-threaded
    # and CPU-bound, so CPU seconds are exactly what each candidate costs).
    batch, done = 50, 0
    start = time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            func()
        done += batch
        now = time.process_time()
        if now >= deadline:
            return done / (now - start)


def measure(
    algs: list[str], seconds: float, rounds: int, rsa_bits: int = 2048
) -> dict[str, dict[str, float]]:
    """Median ops/s per algorithm and candidate."""
    results: dict[str, dict[str, float]] = {}
    for alg in algs:
        funcs = _candidates(alg, rsa_bits)
        names = list(funcs)
        samples: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                samples[name].append(_rate(funcs[name], seconds))
        results[alg] = {n: statistics.median(s) for n, s in samples.items()}
    return results


def _table(results: dict[str, dict[str, float]]) -> str:
    head = "| alg | " + " | ".join(CANDIDATES) + " |"
    lines = [head, "|" + "---|" * (len(CANDIDATES) + 1)]
    for alg, row in results.items():
        raw = row["raw"]
        cells = [f"{row['raw']:,.0f}/s"] + [
            f"{row[c] / raw:.2f}x ({row[c]:,.0f}/s)" for c in CANDIDATES[1:]
        ]
        lines.append(f"| {alg} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--algs", default=",".join(ALGS))
    parser.add_argument("--rsa-bits", type=int, default=2048, help="RS256 modulus size")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    algs = [a for a in args.algs.split(",") if a]
    with warnings.catch_warnings():
        # joserfc flags "EdDSA" as deprecated by RFC 9864; irrelevant to speed.
        warnings.simplefilter("ignore")
        results = measure(algs, args.seconds, args.rounds, args.rsa_bits)
    if args.json:
        out = {
            alg: {c: {"ops_per_s": row[c], "ratio_to_raw": row[c] / row["raw"]} for c in row}
            for alg, row in results.items()
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
