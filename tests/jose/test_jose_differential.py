"""Differential tests: jwtgate's lean verifier vs a strict joserfc-based reference.

The reference is deliberately slow and obvious: canonical base64url by
decode-and-re-encode, duplicate members through ``object_pairs_hook``, the
RFC 8725 header rules written out, the signature through joserfc's
``deserialize_compact`` and the registered claims through joserfc's
``JWTClaimsRegistry``, plus the RFC 9068 rules joserfc does not know.
Hypothesis generates valid tokens and mutations of them (byte edits, header
edits, claim edits, raw JSON text); any accept/reject disagreement fails.
"""

from __future__ import annotations

import base64
import json
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws as jose_jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

from jwtgate.clock import FrozenClock
from jwtgate.errors import TokenError
from jwtgate.jose import IssuerPolicy, SigningKey, StaticKeySource, Verifier, generate_key
from jwtgate.jose._codec import b64url_encode

ISSUER = "https://issuer.test"
AUDIENCE = "api"
NOW = 1_800_000_000
LEEWAY = 30
MAX_LIFETIME = 3600
ALGS = ("ES256", "EdDSA", "HS256", "PS256", "RS256")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Env:
    """One algorithm's key, the jwtgate verifier and the joserfc key."""

    key: SigningKey
    verifier: Verifier
    jose_key: Any


def _jose_key(key: SigningKey) -> Any:
    if key.alg == "HS256":
        return OctKey.import_key(key.secret_bytes())
    cls: Any = {"RS256": RSAKey, "PS256": RSAKey, "ES256": ECKey, "EdDSA": OKPKey}[key.alg]
    return cls.import_key(key.public_jwk())


def _env(alg: str) -> Env:
    key = generate_key(alg, rsa_bits=2048)
    policy = IssuerPolicy(
        ISSUER,
        frozenset({AUDIENCE}),
        frozenset({alg}),
        StaticKeySource([key.verification_key()]),
        leeway=LEEWAY,
        max_lifetime=MAX_LIFETIME,
    )
    verifier = Verifier([policy], clock=FrozenClock(NOW), cache_size=0)
    return Env(key, verifier, _jose_key(key))


ENVS = {alg: _env(alg) for alg in ALGS}


# ----------------------------------------------------------------- reference
def _strict_json(raw: bytes) -> dict[str, Any] | None:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in items}) != len(items):
            raise ValueError("duplicate")
        return dict(items)

    def no_constants(_: str) -> Any:
        raise ValueError("constant")

    try:
        text = raw.decode("utf-8")
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=no_constants)
        json.dumps(value).encode("utf-8")
        text.encode("utf-8")
        _walk_utf8(value)
    except (ValueError, UnicodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _walk_utf8(value: Any) -> None:
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk_utf8(k)
            _walk_utf8(v)
    elif isinstance(value, list):
        for v in value:
            _walk_utf8(v)


def _numeric(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and abs(value) <= 2**53


def reference_accepts(env: Env, token: str) -> bool:
    """A slow, strict accept/reject decision built on joserfc."""
    if len(token) > 8192:
        return False
    parts = token.split(".")
    if len(parts) != 3:
        return False
    decoded = []
    for seg in parts:
        if not _B64URL.fullmatch(seg):
            return False
        try:
            data = base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))
        except ValueError:
            return False
        if b64url_encode(data) != seg:  # canonical: re-encoding gives the input back
            return False
        decoded.append(data)
    header, claims = _strict_json(decoded[0]), _strict_json(decoded[1])
    if header is None or claims is None:
        return False
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none" or alg != env.key.alg:
        return False
    if any(name in header for name in ("jwk", "jku", "x5u", "x5c", "crit")):
        return False
    if "b64" in header and header["b64"] is not True:
        return False
    if header.get("kid") != env.key.kid:
        return False
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ("at+jwt", "application/at+jwt"):
        return False
    try:
        jose_jws.deserialize_compact(
            token,
            env.jose_key,
            algorithms=[alg],
            registry=JWSRegistry(algorithms=[alg], strict_check_header=False),
        )
    except (JoseError, ValueError):
        return False
    registry = JWTClaimsRegistry(
        now=NOW,
        leeway=LEEWAY,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True},
        jti={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        client_id={"essential": True},
    )
    if any(name in claims and claims[name] is None for name in registry.options):
        return False
    try:
        registry.validate(claims)
    except JoseError:
        return False
    return _rfc9068_extras(claims)


def _rfc9068_extras(claims: dict[str, Any]) -> bool:
    exp, iat = claims["exp"], claims["iat"]
    if not (_numeric(exp) and _numeric(iat)):
        return False
    if "nbf" in claims and not _numeric(claims["nbf"]):
        return False
    if exp - iat > MAX_LIFETIME or exp - NOW > MAX_LIFETIME + LEEWAY:
        return False
    if not isinstance(claims["aud"], str) and not claims["aud"]:
        return False
    for name in ("sub", "jti", "client_id"):
        if not isinstance(claims[name], str) or not claims[name]:
            return False
    if "sid" in claims and (not isinstance(claims["sid"], str) or not claims["sid"]):
        return False
    if "scope" in claims and not isinstance(claims["scope"], str):
        return False
    roles = claims.get("roles", [])
    return isinstance(roles, list) and all(isinstance(r, str) for r in roles)


def jwtgate_accepts(env: Env, token: str) -> bool:
    """jwtgate's decision."""
    try:
        env.verifier.verify(token)
    except TokenError:
        return False
    return True


# ---------------------------------------------------------------- generators
def _claims() -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": NOW + 600,
        "iat": NOW,
        "jti": "0123456789abcdefghij",
        "client_id": "cli",
        "scope": "read write",
        "roles": ["admin"],
    }


_DROP = object()
CLAIM_EDITS: dict[str, list[Any]] = {
    "exp": [_DROP, NOW - 31, NOW - 30, NOW - 29, NOW + 3600, NOW + 3601, NOW + 3630, NOW + 3631,
            1e300, 10**20, "1800000600", True, None, NOW + 0.5, [NOW]],
    "iat": [_DROP, NOW + 30, NOW + 31, NOW - 3001, NOW - 10_000, "now", False, None, 0.0],
    "nbf": [NOW + 30, NOW + 31, NOW - 5, "x", None, True],
    "aud": [_DROP, ["api"], ["x", "api"], ["x"], [], "x", "API", 5, None, {"api": 1}],
    "iss": [_DROP, "https://issuer.test/", "https://evil.test", 1, None],
    "sub": [_DROP, "", 7, None, ["alice"]],
    "jti": [_DROP, "", 1],
    "client_id": [_DROP, "", 2, None],
    "scope": [_DROP, "", "a  b", ["read"], 3, None],
    "roles": [_DROP, [], "admin", [1], None],
    "sid": ["fam", "", 9, None],
    "extra": [{"a": [1, {"b": None}]}, "\u00e9\u4e2d", 1.5],
}  # fmt: skip
HEADER_EDITS: dict[str, list[Any]] = {
    "alg": [_DROP, "none", "None", "NONE", "HS256", "RS256", "ES256", "EdDSA", "PS256", 5, None],
    "kid": [_DROP, "other", 5, None, ""],
    "typ": [_DROP, "JWT", "AT+JWT", "application/at+jwt", "Application/At+Jwt", "at+JWT ", 5],
    "crit": [["exp"], [], "x", ["alg"]],
    "exp": [1],
    "b64": [True, False, "false"],
    "jwk": [{"kty": "oct", "k": "AAAA"}],
    "jku": ["https://evil.test/jwks"],
    "cty": ["JWT"],
    "foo": ["bar"],
}
RAW_PAYLOADS = [
    b"",
    b"[]",
    b"null",
    b'"x"',
    b"{}",
    b'{"exp": NaN}',
    b"\xef\xbb\xbf{}",
    b'{"a":"\xff"}',
    b'{"a":"\xed\xa0\x80"}',
    b'{"a":"\\ud800"}',
]


def _apply(base: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for name, value in edits.items():
        if value is _DROP:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def _sign(env: Env, header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes) -> str:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = b64url_encode(h) + "." + b64url_encode(p)
    return signing_input + "." + b64url_encode(env.key.sign(signing_input.encode()))


@st.composite
def tokens(draw: st.DrawFn) -> tuple[str, str]:
    alg = draw(st.sampled_from(ALGS))
    env = ENVS[alg]
    header: dict[str, Any] = {"typ": "at+jwt", "alg": alg, "kid": env.key.kid}
    claims = _claims()
    kind = draw(st.sampled_from(["valid", "claims", "header", "bytes", "raw", "dupes"]))
    if kind == "claims":
        names = draw(st.lists(st.sampled_from(sorted(CLAIM_EDITS)), min_size=1, max_size=3))
        claims = _apply(claims, {n: draw(st.sampled_from(CLAIM_EDITS[n])) for n in names})
    elif kind == "header":
        names = draw(st.lists(st.sampled_from(sorted(HEADER_EDITS)), min_size=1, max_size=3))
        header = _apply(header, {n: draw(st.sampled_from(HEADER_EDITS[n])) for n in names})
    elif kind == "raw":
        return alg, _sign(env, header, draw(st.sampled_from(RAW_PAYLOADS)))
    elif kind == "dupes":
        text = json.dumps(claims)
        where = draw(st.sampled_from(["payload", "header"]))
        if where == "payload":
            return alg, _sign(env, header, text[:-1].encode() + b', "sub": "alice"}')
        return alg, _sign(env, json.dumps(header)[:-1].encode() + b', "typ": "at+jwt"}', claims)
    token = _sign(env, header, claims)
    if kind == "bytes":
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(token)))
            op = draw(st.sampled_from(["replace", "insert", "delete"]))
            ch = draw(st.sampled_from([*"AQgw_-+/=. ?\n", "\u00e9"]))
            if op == "replace" and i < len(token):
                token = token[:i] + ch + token[i + 1 :]
            elif op == "insert":
                token = token[:i] + ch + token[i:]
            elif i < len(token):
                token = token[:i] + token[i + 1 :]
    return alg, token


@settings(
    max_examples=1500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(tokens())
def test_jwtgate_agrees_with_joserfc_reference(case: tuple[str, str]) -> None:
    alg, token = case
    env = ENVS[alg]
    with warnings.catch_warnings():
        # joserfc flags "EdDSA" as deprecated by RFC 9864; the alg itself is what we test.
        warnings.simplefilter("ignore")
        expected = reference_accepts(env, token)
    assert jwtgate_accepts(env, token) is expected


@pytest.mark.parametrize("alg", ALGS)
def test_reference_accepts_honest_tokens(alg: str) -> None:
    """Guards the differential test itself: the reference is not a constant 'reject'."""
    env = ENVS[alg]
    token = _sign(env, {"typ": "at+jwt", "alg": alg, "kid": env.key.kid}, _claims())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert reference_accepts(env, token)
    assert jwtgate_accepts(env, token)
