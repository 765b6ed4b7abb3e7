"""Claim rules (RFC 7519 section 4.1, RFC 9068 sections 2.2 and 4), data-driven."""

from __future__ import annotations

from typing import Any

import pytest

from jwtgate.clock import FrozenClock
from jwtgate.errors import TokenError
from jwtgate.jose import IssuerPolicy, SigningKey, StaticKeySource, Verifier

NOW = 1_800_000_000

# (vector id, claim overrides, header overrides, expected code or None for "accepted")
CLAIM_VECTORS: list[tuple[str, dict[str, Any], dict[str, Any], str | None]] = [
    ("RFC7519-4.1.4 exp missing", {"exp": None}, {}, "missing_claim"),
    ("RFC7519-2 exp as string", {"exp": str(NOW + 60)}, {}, "invalid_claim"),
    ("RFC7519-2 exp as bool", {"exp": True}, {}, "invalid_claim"),
    ("RFC7519-2 exp as list", {"exp": [NOW + 60]}, {}, "invalid_claim"),
    ("RFC7519-2 exp = 1e300", {"exp": 1e300}, {}, "lifetime_exceeded"),
    ("RFC7519-2 exp = 10**400", {"exp": 10**400}, {}, "invalid_claim"),
    ("RFC7519-4.1.4 exp in the past", {"exp": NOW - 31}, {}, "token_expired"),
    ("RFC7519-4.1.4 exp == now - leeway", {"exp": NOW - 30}, {}, "token_expired"),
    ("RFC7519-4.1.4 exp inside leeway", {"exp": NOW - 29}, {}, None),
    ("RFC7519-2 exp as float", {"exp": NOW + 60.5}, {}, None),
    ("RFC9068-2.2 iat missing", {"iat": None}, {}, "missing_claim"),
    ("RFC7519-4.1.6 iat in the future", {"iat": NOW + 31}, {}, "iat_in_future"),
    ("RFC7519-4.1.6 iat inside leeway", {"iat": NOW + 30}, {}, None),
    ("RFC7519-2 iat as string", {"iat": "now"}, {}, "invalid_claim"),
    ("issue-2 exp - iat > max", {"iat": NOW - 3000, "exp": NOW + 601}, {}, "lifetime_exceeded"),
    ("issue-2 exp - now > max", {"iat": NOW, "exp": NOW + 3601}, {}, "lifetime_exceeded"),
    ("issue-2 exactly max lifetime", {"iat": NOW, "exp": NOW + 3600}, {}, None),
    ("RFC7519-4.1.5 nbf in the future", {"nbf": NOW + 31}, {}, "token_not_yet_valid"),
    # Several time rules broken at once: check_time's order decides which error.
    ("order: expired and iat in future", {"exp": NOW - 31, "iat": NOW + 31}, {}, "token_expired"),
    ("order: expired and nbf in future", {"exp": NOW - 31, "nbf": NOW + 31}, {}, "token_expired"),
    (
        "order: nbf and iat in future",
        {"nbf": NOW + 31, "iat": NOW + 31},
        {},
        "token_not_yet_valid",
    ),
    (
        "order: iat in future and too long",
        {"iat": NOW + 31, "exp": NOW + 9000},
        {},
        "iat_in_future",
    ),
    ("iat float in future", {"iat": NOW + 30.5}, {}, "iat_in_future"),
    ("iat float inside leeway", {"iat": NOW + 29.5}, {}, None),
    ("exp float at the leeway edge", {"exp": NOW - 30.0}, {}, "token_expired"),
    (
        "exp - now one past max + leeway",
        {"iat": NOW - 31, "exp": NOW + 3631},
        {},
        "lifetime_exceeded",
    ),
    ("nbf in the past", {"nbf": NOW - 10}, {}, None),
    ("RFC7519-4.1.5 nbf inside leeway", {"nbf": NOW + 30}, {}, None),
    ("RFC7519-4.1.5 nbf as string", {"nbf": "soon"}, {}, "invalid_claim"),
    ("RFC7519-4.1.5 nbf null", {"nbf": "__null__"}, {}, "invalid_claim"),
    ("RFC7519-4.1.1 iss missing", {"iss": None}, {}, "missing_claim"),
    ("RFC7519-4.1.1 iss other", {"iss": "https://evil.test"}, {}, "issuer_mismatch"),
    ("RFC7519-4.1.1 iss prefix", {"iss": "https://issuer.test/"}, {}, "issuer_mismatch"),
    ("RFC7519-4.1.1 iss case", {"iss": "https://ISSUER.test"}, {}, "issuer_mismatch"),
    ("RFC7519-4.1.1 iss not a string", {"iss": ["https://issuer.test"]}, {}, "invalid_claim"),
    ("RFC7519-4.1.3 aud missing", {"aud": None}, {}, "missing_claim"),
    ("RFC7519-4.1.3 aud other", {"aud": "other"}, {}, "audience_mismatch"),
    ("RFC7519-4.1.3 aud list with ours", {"aud": ["x", "api"]}, {}, None),
    ("RFC7519-4.1.3 aud list without ours", {"aud": ["x", "y"]}, {}, "audience_mismatch"),
    ("RFC7519-4.1.3 aud empty list", {"aud": []}, {}, "invalid_claim"),
    ("RFC7519-4.1.3 aud list of numbers", {"aud": [1]}, {}, "invalid_claim"),
    ("RFC7519-4.1.3 aud object", {"aud": {"api": True}}, {}, "invalid_claim"),
    ("RFC9068-2.2 sub missing", {"sub": None}, {}, "missing_claim"),
    ("RFC9068-2.2 sub not a string", {"sub": 42}, {}, "invalid_claim"),
    ("RFC9068-2.2 sub empty", {"sub": ""}, {}, "invalid_claim"),
    ("RFC9068-2.2 jti missing", {"jti": None}, {}, "missing_claim"),
    ("RFC9068-2.2 client_id missing", {"client_id": None}, {}, "missing_claim"),
    ("RFC9068-2.2 client_id not a string", {"client_id": 1}, {}, "invalid_claim"),
    # A missing required claim must not change the order of the checks.
    (
        "order: expired before client_id missing",
        {"exp": NOW - 31, "client_id": None},
        {},
        "token_expired",
    ),
    ("order: aud before sub missing", {"aud": "other", "sub": None}, {}, "audience_mismatch"),
    ("order: aud missing before sub missing", {"aud": None, "sub": None}, {}, "missing_claim"),
    ("order: sub invalid before jti missing", {"sub": 42, "jti": None}, {}, "invalid_claim"),
    ("RFC8693-4.2 scope as list", {"scope": ["a", "b"]}, {}, "invalid_claim"),
    ("RFC8693-4.2 scope null", {"scope": "__null__"}, {}, "invalid_claim"),
    ("RFC7643 roles as string", {"roles": "admin"}, {}, "invalid_claim"),
    ("RFC7643 roles with number", {"roles": ["a", 1]}, {}, "invalid_claim"),
    ("sid not a string", {"sid": 5}, {}, "invalid_claim"),
    ("RFC7515-4.1.9 typ upper case", {}, {"typ": "AT+JWT"}, None),
    ("RFC7515-4.1.9 typ with application/", {}, {"typ": "application/at+jwt"}, None),
    ("RFC7515-4.1.9 typ mixed case full", {}, {"typ": "Application/AT+JWT"}, None),
    ("RFC9068-4 typ jwt", {}, {"typ": "jwt"}, "typ_mismatch"),
    ("RFC8725-3.12 refresh typ", {}, {"typ": "rt+jwt"}, "typ_mismatch"),
]


@pytest.mark.parametrize(
    ("vector", "claim_over", "header_over", "code"),
    CLAIM_VECTORS,
    ids=[v[0] for v in CLAIM_VECTORS],
)
def test_claim_rules(
    vector: str,
    claim_over: dict[str, Any],
    header_over: dict[str, Any],
    code: str | None,
    forge: Any,
    session_keys: dict[str, SigningKey],
    clock: FrozenClock,
) -> None:
    key = session_keys["EdDSA"]
    body = forge.claims(**claim_over)
    for name, value in list(body.items()):
        if value == "__null__":
            body[name] = None  # an explicit JSON null
    token = forge.forge(key, forge.header(key, **header_over), body)
    policy = IssuerPolicy(
        forge.ISSUER,
        frozenset({forge.AUDIENCE}),
        frozenset({"EdDSA"}),
        StaticKeySource([key.verification_key()]),
    )
    verifier = Verifier([policy], clock=clock)
    if code is None:
        assert verifier.verify(token).subject == body["sub"]
        return
    with pytest.raises(TokenError) as err:
        verifier.verify(token)
    assert err.value.code == code, vector


def test_multiple_issuers_are_selected_by_iss(
    forge: Any, session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    a, b = session_keys["ES256"], session_keys["EdDSA"]
    pa = IssuerPolicy(
        "https://a.test",
        frozenset({"api"}),
        frozenset({"ES256"}),
        StaticKeySource([a.verification_key()]),
    )
    pb = IssuerPolicy(
        "https://b.test",
        frozenset({"api"}),
        frozenset({"EdDSA"}),
        StaticKeySource([b.verification_key()]),
    )
    verifier = Verifier([pa, pb], clock=clock)
    ta = forge.forge(a, forge.header(a), forge.claims(iss="https://a.test"))
    tb = forge.forge(b, forge.header(b), forge.claims(iss="https://b.test"))
    assert verifier.verify(ta).issuer == "https://a.test"
    assert verifier.verify(tb).issuer == "https://b.test"
    # A token claiming issuer B but signed by A's key: A's key is not trusted for B.
    cross = forge.forge(a, forge.header(a), forge.claims(iss="https://b.test"))
    with pytest.raises(TokenError) as err:
        verifier.verify(cross)
    assert err.value.code in {"alg_not_allowed", "unknown_kid"}
    cross_alg = IssuerPolicy(
        "https://c.test",
        frozenset({"api"}),
        frozenset({"ES256"}),
        StaticKeySource([generate_other(a)]),
    )
    verifier2 = Verifier([pa, cross_alg], clock=clock)
    forged = forge.forge(a, forge.header(a), forge.claims(iss="https://c.test"))
    with pytest.raises(TokenError) as err2:
        verifier2.verify(forged)
    assert err2.value.code == "unknown_kid"


def generate_other(key: SigningKey) -> Any:
    """A different key of the same algorithm."""
    from jwtgate.jose import generate_key

    return generate_key(key.alg).verification_key()
