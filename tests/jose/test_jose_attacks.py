"""Every rejection class of issue 2, data-driven, each case named after its source.

Each vector is signed correctly by the trusted key unless the defect *is* the
signature, so the only thing wrong with it is the named defect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from jwtgate.clock import FrozenClock
from jwtgate.errors import TokenError
from jwtgate.jose import (
    ALGORITHMS,
    IssuerPolicy,
    SigningKey,
    StaticKeySource,
    Verifier,
    generate_key,
)

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

Build = Callable[[Any, SigningKey], str]


def _verifier(keys: dict[str, SigningKey], clock: FrozenClock, algs: frozenset[str]) -> Verifier:
    source = StaticKeySource([k.verification_key() for k in keys.values()])
    policy = IssuerPolicy("https://issuer.test", frozenset({"api"}), algs, source)
    return Verifier([policy], clock=clock)


def _h(f: Any, k: SigningKey, **over: Any) -> str:
    return str(f.forge(k, f.header(k, **over), f.claims()))


def _raw_sig(f: Any, k: SigningKey, r: int, s: int) -> str:
    good = _h(f, k)
    return str(f.with_signature(good, r.to_bytes(32, "big") + s.to_bytes(32, "big")))


# (vector id / source, builder(forge, es256_key) -> token, expected code)
HEADER_VECTORS: list[tuple[str, Build, str]] = [
    ("RFC8725-3.1 CVE-2015-9235 alg=none", lambda f, k: _h(f, k, alg="none"), "alg_none"),
    ("RFC8725-3.1 alg=None", lambda f, k: _h(f, k, alg="None"), "alg_none"),
    ("RFC8725-3.1 alg=NONE", lambda f, k: _h(f, k, alg="NONE"), "alg_none"),
    ("RFC8725-3.1 alg=nOnE", lambda f, k: _h(f, k, alg="nOnE"), "alg_none"),
    (
        "CVE-2015-9235 alg=none empty signature",
        lambda f, k: _h(f, k, alg="none").rsplit(".", 1)[0] + ".",
        "alg_none",
    ),
    ("RFC7515-4.1.1 alg missing", lambda f, k: _h(f, k, alg=None), "alg_missing"),
    ("RFC7515-4.1.1 alg not a string", lambda f, k: _h(f, k, alg=256), "alg_missing"),
    ("RFC7515-4.1.1 alg empty", lambda f, k: _h(f, k, alg=""), "alg_missing"),
    ("RFC8725-3.1 alg not allowed (HS256)", lambda f, k: _h(f, k, alg="HS256"), "alg_not_allowed"),
    ("RFC8725-3.1 alg not allowed (ES384)", lambda f, k: _h(f, k, alg="ES384"), "alg_not_allowed"),
    (
        "RFC8725-3.10 CVE-2018-0114 embedded jwk",
        lambda f, k: _h(f, k, jwk=generate_key("ES256").public_jwk()),
        "embedded_key_rejected",
    ),
    ("RFC8725-3.10 jku", lambda f, k: _h(f, k, jku="https://evil/jwks"), "embedded_key_rejected"),
    ("RFC8725-3.10 x5u", lambda f, k: _h(f, k, x5u="https://evil/cert"), "embedded_key_rejected"),
    ("RFC8725-3.10 x5c", lambda f, k: _h(f, k, x5c=["MIIB"]), "embedded_key_rejected"),
    (
        "RFC7515-4.1.11 crit unknown extension",
        lambda f, k: _h(f, k, crit=["exp"], exp=1),
        "crit_unsupported",
    ),
    (
        "RFC7797-3 crit b64",
        lambda f, k: _h(f, k, crit=["b64"], b64=True),
        "crit_unsupported",
    ),
    ("RFC7515-4.1.11 crit empty list", lambda f, k: _h(f, k, crit=[]), "malformed_token"),
    ("RFC7515-4.1.11 crit not a list", lambda f, k: _h(f, k, crit="x", x=1), "malformed_token"),
    ("RFC7515-4.1.11 crit names absent", lambda f, k: _h(f, k, crit=["x"]), "malformed_token"),
    ("RFC7515-4.1.11 crit names alg", lambda f, k: _h(f, k, crit=["alg"]), "malformed_token"),
    ("RFC7515-4.1.11 crit non-string", lambda f, k: _h(f, k, crit=[1]), "malformed_token"),
    ("RFC7797-3 b64=false", lambda f, k: _h(f, k, b64=False), "b64_false_rejected"),
    (
        "RFC7797-3 b64=false under crit",
        lambda f, k: _h(f, k, b64=False, crit=["b64"]),
        "crit_unsupported",
    ),
    ("RFC7797-3 b64 not a bool", lambda f, k: _h(f, k, b64="false"), "malformed_token"),
    ("RFC7515-4.1.4 kid missing", lambda f, k: _h(f, k, kid=None), "unknown_kid"),
    ("RFC7515-4.1.4 kid unknown", lambda f, k: _h(f, k, kid="nope"), "unknown_kid"),
    ("RFC7515-4.1.4 kid not a string", lambda f, k: _h(f, k, kid=7), "malformed_token"),
    ("RFC9068-4 typ JWT", lambda f, k: _h(f, k, typ="JWT"), "typ_mismatch"),
    ("RFC9068-4 typ missing", lambda f, k: _h(f, k, typ=None), "typ_mismatch"),
    ("RFC8725-3.11 typ of an ID token", lambda f, k: _h(f, k, typ="id+jwt"), "typ_mismatch"),
    ("RFC7515-4.1.9 typ not a string", lambda f, k: _h(f, k, typ=["at+jwt"]), "malformed_token"),
]

ENCODING_VECTORS: list[tuple[str, Build, str]] = [
    (
        "RFC7515-7.2 JSON serialization",
        lambda f, k: json.dumps({"payload": "e30", "signatures": []}),
        "json_serialization_rejected",
    ),
    (
        "RFC7515-7.2 JSON serialization, leading space",
        lambda f, k: ' {"payload":"e30"}',
        "json_serialization_rejected",
    ),
    ("RFC7515-7.1 two segments", lambda f, k: _h(f, k).rsplit(".", 1)[0], "malformed_token"),
    ("RFC7515-7.1 four segments", lambda f, k: _h(f, k) + ".e30", "malformed_token"),
    ("RFC7516 five segments (JWE)", lambda f, k: "a.b.c.d.e", "malformed_token"),
    ("RFC7515-7.1 empty token", lambda f, k: "", "malformed_token"),
    ("RFC7515-2 padding on signature", lambda f, k: _h(f, k) + "==", "bad_base64url"),
    (
        "RFC7515-2 padding on header",
        lambda f, k: (lambda t: t.replace(".", "=.", 1))(_h(f, k)),
        "bad_base64url",
    ),
    ("RFC7515-2 trailing whitespace", lambda f, k: _h(f, k) + " ", "bad_base64url"),
    (
        "RFC7515-2 newline inside",
        lambda f, k: _h(f, k)[:20] + "\n" + _h(f, k)[20:],
        "bad_base64url",
    ),
    (
        "RFC4648-5 standard alphabet +",
        lambda f, k: f.with_signature(_h(f, k), b"\xfb" * 64).replace("-", "+"),
        "bad_base64url",
    ),
    (
        "RFC4648-5 standard alphabet /",
        lambda f, k: f.with_signature(_h(f, k), b"\xff" * 64).replace("_", "/"),
        "bad_base64url",
    ),
    (
        "RFC4648-3.5 non-zero trailing bits (signature)",
        lambda f, k: _h(f, k)[:-1] + chr(ord(_h(f, k)[-1]) ^ 1),
        "bad_base64url",
    ),
    ("RFC4648-3.5 impossible length 4n+1", lambda f, k: _h(f, k) + "AAA", "bad_base64url"),
    ("RFC7515-2 non-ASCII character", lambda f, k: _h(f, k) + "é", "bad_base64url"),
    (
        "RFC7515-5.2 duplicate header member",
        lambda f, k: f.forge(
            k,
            f'{{"alg":"ES256","alg":"ES256","kid":"{k.kid}","typ":"at+jwt"}}'.encode(),
            f.claims(),
        ),
        "duplicate_member",
    ),
    (
        "RFC7519-4 duplicate claim",
        lambda f, k: f.forge(
            k,
            f.header(k),
            json.dumps(f.claims())[:-1].encode() + b', "sub": "mallory"}',
        ),
        "duplicate_member",
    ),
    (
        "RFC7519-4 duplicate member nested",
        lambda f, k: f.forge(
            k,
            f.header(k),
            json.dumps(f.claims())[:-1].encode() + b', "ext": {"a": 1, "a": 2}}',
        ),
        "duplicate_member",
    ),
    ("RFC7515-4 header is an array", lambda f, k: f.forge(k, b"[1]", f.claims()), "not_an_object"),
    ("RFC7515-4 header is a string", lambda f, k: f.forge(k, b'"x"', f.claims()), "not_an_object"),
    (
        "RFC7519-7.2 payload is an array",
        lambda f, k: f.forge(k, f.header(k), b"[]"),
        "not_an_object",
    ),
    (
        "RFC7519-7.2 payload is a number",
        lambda f, k: f.forge(k, f.header(k), b"1"),
        "not_an_object",
    ),
    ("RFC8259 payload empty", lambda f, k: f.forge(k, f.header(k), b""), "malformed_token"),
    ("RFC8259 payload not JSON", lambda f, k: f.forge(k, f.header(k), b"{x}"), "malformed_token"),
    (
        "RFC8259-6 NaN literal",
        lambda f, k: f.forge(k, f.header(k), b'{"exp": NaN}'),
        "malformed_token",
    ),
    (
        "RFC8259-6 Infinity literal",
        lambda f, k: f.forge(k, f.header(k), b'{"exp": Infinity}'),
        "malformed_token",
    ),
    (
        "RFC3629 invalid UTF-8 byte",
        lambda f, k: f.forge(k, f.header(k), b'{"a":"\xff"}'),
        "invalid_utf8",
    ),
    (
        "RFC3629-3 overlong encoding",
        lambda f, k: f.forge(k, f.header(k), b'{"a":"\xc0\xaf"}'),
        "invalid_utf8",
    ),
    (
        "RFC3629-3 encoded surrogate",
        lambda f, k: f.forge(k, f.header(k), b'{"a":"\xed\xa0\x80"}'),
        "invalid_utf8",
    ),
    (
        "RFC8259-8.2 escaped lone surrogate",
        lambda f, k: f.forge(k, f.header(k), json.dumps(f.claims(x="\ud800")).encode()),
        "invalid_utf8",
    ),
    (
        "RFC8259-8.1 byte order mark",
        lambda f, k: f.forge(k, f.header(k), b"\xef\xbb\xbf" + json.dumps(f.claims()).encode()),
        "malformed_token",
    ),
    (
        "issue-2 size cap 8 KiB",
        lambda f, k: f.forge(k, f.header(k), f.claims(pad="x" * 9000)),
        "token_too_large",
    ),
]

SIGNATURE_VECTORS: list[tuple[str, Build, str]] = [
    ("CVE-2022-21449 r=0 s=0", lambda f, k: _raw_sig(f, k, 0, 0), "bad_signature"),
    ("CVE-2022-21449 r=0", lambda f, k: _raw_sig(f, k, 0, 1), "bad_signature"),
    ("CVE-2022-21449 s=0", lambda f, k: _raw_sig(f, k, 1, 0), "bad_signature"),
    ("RFC7518-3.4 r=n", lambda f, k: _raw_sig(f, k, P256_N, 1), "bad_signature"),
    ("RFC7518-3.4 s=n", lambda f, k: _raw_sig(f, k, 1, P256_N), "bad_signature"),
    ("RFC7518-3.4 r=n s=n", lambda f, k: _raw_sig(f, k, P256_N, P256_N), "bad_signature"),
    (
        "RFC7518-3.4 r=s=2^256-1",
        lambda f, k: _raw_sig(f, k, 2**256 - 1, 2**256 - 1),
        "bad_signature",
    ),
    (
        "RFC7518-3.4 signature 63 bytes",
        lambda f, k: f.with_signature(_h(f, k), b"\x01" * 63),
        "bad_signature",
    ),
    (
        "RFC7518-3.4 signature 65 bytes",
        lambda f, k: f.with_signature(_h(f, k), b"\x01" * 65),
        "bad_signature",
    ),
    ("RFC7515-5.2 empty signature", lambda f, k: _h(f, k).rsplit(".", 1)[0] + ".", "bad_signature"),
    (
        "RFC7518-3.4 DER signature instead of R||S",
        lambda f, k: f.with_signature(_h(f, k), bytes.fromhex("3006020101020101")),
        "bad_signature",
    ),
    (
        "signature of another key with the same kid",
        lambda f, k: f.forge(generate_key("ES256"), f.header(k), f.claims()),
        "bad_signature",
    ),
    (
        "payload swapped after signing",
        lambda f, k: (lambda a, b: a.split(".")[0] + "." + b.split(".")[1] + "." + a.split(".")[2])(
            _h(f, k), f.forge(k, f.header(k), f.claims(sub="mallory"))
        ),
        "bad_signature",
    ),
]


def _case_ids(vectors: list[tuple[str, Build, str]]) -> list[str]:
    return [v[0] for v in vectors]


@pytest.mark.parametrize(
    ("vector", "build", "code"),
    HEADER_VECTORS + ENCODING_VECTORS + SIGNATURE_VECTORS,
    ids=_case_ids(HEADER_VECTORS + ENCODING_VECTORS + SIGNATURE_VECTORS),
)
def test_attack_vector_is_rejected_with_its_code(
    vector: str,
    build: Build,
    code: str,
    forge: Any,
    session_keys: dict[str, SigningKey],
    clock: FrozenClock,
) -> None:
    key = session_keys["ES256"]
    token = build(forge, key)
    verifier = _verifier({"ES256": key}, clock, frozenset({"ES256"}))
    with pytest.raises(TokenError) as err:
        verifier.verify(token)
    assert err.value.code == code, vector
    assert err.value.status == 401
    if token:
        assert token not in str(err.value)  # messages never echo the token


def test_honest_token_passes(
    forge: Any, session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    key = session_keys["ES256"]
    verifier = _verifier({"ES256": key}, clock, frozenset({"ES256"}))
    assert verifier.verify(_h(forge, key)).subject == "alice"


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_alg_must_be_the_keys_alg_even_when_allowed(
    alg: str, forge: Any, session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    """RFC 8725 section 3.1: every key is bound to one algorithm (CVE-2016-10555)."""
    key = session_keys[alg]
    verifier = _verifier({alg: key}, clock, frozenset(ALGORITHMS))
    other = next(a for a in sorted(ALGORITHMS) if a != alg)
    token = forge.forge(session_keys[other], forge.header(key, alg=other), forge.claims())
    with pytest.raises(TokenError) as err:
        verifier.verify(token)
    assert err.value.code == "alg_key_mismatch"


@pytest.mark.parametrize("kind", ["public_pem", "jwk_json", "n_bytes"])
def test_cve_2016_10555_hmac_keyed_with_rsa_public_material(
    kind: str, forge: Any, session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    """Sign HS256 using the RS256 public key as the HMAC secret: never accepted."""
    import hashlib
    import hmac

    from jwtgate.jose._codec import b64url_decode, b64url_encode

    rsa_key = session_keys["RS256"]
    vk = rsa_key.verification_key()
    secret = {
        "public_pem": vk.public_pem(),
        "jwk_json": json.dumps(vk.public_jwk()).encode(),
        "n_bytes": b64url_decode(vk.public_jwk()["n"]),
    }[kind]
    signing_input = forge.enc(forge.header(rsa_key, alg="HS256")) + "." + forge.enc(forge.claims())
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + b64url_encode(sig)
    for algs in (frozenset({"RS256"}), frozenset({"RS256", "HS256"})):
        verifier = _verifier({"RS256": rsa_key}, clock, algs)
        with pytest.raises(TokenError) as err:
            verifier.verify(token)
        assert err.value.code in {"alg_not_allowed", "alg_key_mismatch"}


@pytest.mark.parametrize("bad", [b"token", 123, None], ids=["bytes", "int", "none"])
def test_non_string_tokens_are_malformed(
    bad: Any, session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    verifier = _verifier({"ES256": session_keys["ES256"]}, clock, frozenset({"ES256"}))
    with pytest.raises(TokenError) as err:
        verifier.verify(bad)
    assert err.value.code == "malformed_token"


@pytest.mark.parametrize("where", [0, 1, 2], ids=["header", "payload", "signature"])
def test_non_ascii_in_any_segment_is_bad_base64url(
    where: int, forge: Any, session_keys: dict[str, SigningKey], clock: FrozenClock
) -> None:
    """Never a crash: a non-ASCII character anywhere is a 401 bad_base64url."""
    key = session_keys["ES256"]
    parts = _h(forge, key).split(".")
    parts[where] = parts[where][:5] + "\u00e9" + parts[where][6:]
    verifier = _verifier({"ES256": key}, clock, frozenset({"ES256"}))
    with pytest.raises(TokenError) as err:
        verifier.verify(".".join(parts))
    assert err.value.code == "bad_base64url"
