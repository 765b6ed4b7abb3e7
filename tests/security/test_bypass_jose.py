"""Hostile review of the token engine: spellings the attack tables did not cover yet.

Each token is signed by the trusted key, so the only thing odd about it is
the named spelling. All of these were already handled; they are kept here so
they stay handled.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jwtgate.clock import FrozenClock
from jwtgate.errors import TokenError
from jwtgate.jose import IssuerPolicy, SigningKey, StaticKeySource, Verifier, generate_key
from jwtgate.jose._codec import b64url_encode

NOW = 1_800_000_000
ISSUER = "https://issuer.test"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    """One ES256 key for the module."""
    return generate_key("ES256")


def _verifier(key: SigningKey) -> Verifier:
    source = StaticKeySource([key.verification_key()])
    policy = IssuerPolicy(ISSUER, frozenset({"api"}), frozenset({"ES256"}), source)
    return Verifier([policy], clock=FrozenClock(NOW))


def _header(key: SigningKey, **over: Any) -> bytes:
    return json.dumps({"typ": "at+jwt", "alg": "ES256", "kid": key.kid, **over}).encode()


def _claims(**over: Any) -> bytes:
    base = {"iss": ISSUER, "sub": "alice", "aud": "api", "exp": NOW + 600, "iat": NOW}
    return json.dumps({**base, "jti": "j1", "client_id": "c", **over}).encode()


def _sign(key: SigningKey, header: bytes, payload: bytes) -> str:
    signing_input = b64url_encode(header) + "." + b64url_encode(payload)
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


Parts = tuple[bytes, bytes]

# (vector id / source, builder(key) -> (header, payload), expected code or None = accepted)
VECTORS: list[tuple[str, Any, str | None]] = [
    (
        "RFC8259-7 \\u0061lg duplicates alg after unescaping",
        lambda k: (
            b'{"\\u0061lg":"none","alg":"ES256","typ":"at+jwt","kid":"' + k.kid.encode() + b'"}',
            _claims(),
        ),
        "duplicate_member",
    ),
    (
        "RFC8259-7 \\u0073ub duplicates sub after unescaping",
        lambda k: (_header(k), _claims()[:-1] + b', "\\u0073ub": "mallory"}'),
        "duplicate_member",
    ),
    (
        "RFC7515-4 'ALG' is another (ignored) member, alg still rules",
        lambda k: (_header(k, ALG="none"), _claims()),
        None,
    ),
    (
        "RFC7518-3.1 alg lower-case es256",
        lambda k: (_header(k, alg="es256"), _claims()),
        "alg_not_allowed",
    ),
    (
        "RFC7519-2 exp 1e400 parses to infinity",
        lambda k: (_header(k), _claims(exp="@")[:-1].replace(b'"@"', b"1e400") + b"}"),
        "invalid_claim",
    ),
    ("RFC7519-2 exp -0", lambda k: (_header(k), _claims(exp=-0.0)), "token_expired"),
    (
        "RFC7519-4.1.3 aud nested list",
        lambda k: (_header(k), _claims(aud=[["api"]])),
        "invalid_claim",
    ),
    (
        "RFC7519-4.1.3 aud case variant",
        lambda k: (_header(k), _claims(aud="API")),
        "audience_mismatch",
    ),
    (
        "UTS39 iss with a Cyrillic look-alike",
        lambda k: (_header(k), _claims(iss="https://\u0456ssuer.test")),
        "issuer_mismatch",
    ),
    (
        "CWE-158 iss with NUL",
        lambda k: (_header(k), _claims(iss=ISSUER + "\x00")),
        "issuer_mismatch",
    ),
    (
        "RFC3986-6.2.2.1 iss host case",
        lambda k: (_header(k), _claims(iss="https://ISSUER.test")),
        "issuer_mismatch",
    ),
    (
        "RFC9068-4 typ upper-case (media types are case-insensitive)",
        lambda k: (_header(k, typ="AT+JWT"), _claims()),
        None,
    ),
    (
        "RFC9068-4 typ application/at+jwt",
        lambda k: (_header(k, typ="application/at+jwt"), _claims()),
        None,
    ),
    ("RFC8725-3.11 typ JWT", lambda k: (_header(k, typ="JWT"), _claims()), "typ_mismatch"),
    (
        "RFC8725-3.11 typ with trailing space",
        lambda k: (_header(k, typ="at+jwt "), _claims()),
        "typ_mismatch",
    ),
    (
        "CWE-22 kid path traversal",
        lambda k: (_header(k, kid="../../etc/passwd"), _claims()),
        "unknown_kid",
    ),
    ("CWE-158 kid with NUL", lambda k: (_header(k, kid=k.kid + "\x00"), _claims()), "unknown_kid"),
    (
        "RFC7515-4.1.4 kid case variant",
        lambda k: (_header(k, kid=k.kid.upper()), _claims()),
        "unknown_kid",
    ),
]


@pytest.mark.parametrize(("vector", "build", "code"), VECTORS, ids=[v[0] for v in VECTORS])
def test_token_spelling(key: SigningKey, vector: str, build: Any, code: str | None) -> None:
    header, payload = build(key)
    token = _sign(key, header, payload)
    if code is None:
        verified = _verifier(key).verify(token)
        assert verified.alg == "ES256"
        assert verified.subject == "alice"
    else:
        with pytest.raises(TokenError) as err:
            _verifier(key).verify(token)
        assert err.value.code == code
