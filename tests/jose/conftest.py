"""Shared fixtures for the token-engine tests: keys are generated once per session.

Test modules cannot import each other (importlib mode), so the token-forging
helpers are handed out through the ``forge`` fixture.
"""

from __future__ import annotations

import json
import types
from typing import Any

import pytest

from jwtgate.clock import FrozenClock
from jwtgate.jose import ALGORITHMS, SigningKey, generate_key
from jwtgate.jose._codec import b64url_encode

ISSUER = "https://issuer.test"
AUDIENCE = "api"
NOW = 1_800_000_000


def claims(**over: Any) -> dict[str, Any]:
    """Valid RFC 9068 claims at NOW, with overrides (value None deletes)."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": NOW + 600,
        "iat": NOW,
        "jti": "jti-0123456789abcdef",
        "client_id": "cli",
    }
    for k, v in over.items():
        if v is None:
            base.pop(k, None)
        else:
            base[k] = v
    return base


def header(key: SigningKey, **over: Any) -> dict[str, Any]:
    """The honest header for ``key``, with overrides (value None deletes)."""
    base: dict[str, Any] = {"typ": "at+jwt", "alg": key.alg, "kid": key.kid}
    for k, v in over.items():
        if v is None:
            base.pop(k, None)
        else:
            base[k] = v
    return base


def _enc(part: dict[str, Any] | bytes) -> str:
    raw = part if isinstance(part, bytes) else json.dumps(part).encode()
    return b64url_encode(raw)


def forge_token(key: SigningKey, head: dict[str, Any] | bytes, body: dict[str, Any] | bytes) -> str:
    """Sign arbitrary header/payload bytes with ``key`` (whatever the header says)."""
    signing_input = _enc(head) + "." + _enc(body)
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def with_signature(token: str, signature: bytes) -> str:
    """Replace the signature segment."""
    head, body, _ = token.split(".")
    return f"{head}.{body}.{b64url_encode(signature)}"


@pytest.fixture(scope="session")
def session_keys() -> dict[str, SigningKey]:
    """One key per algorithm (RSA 2048 to keep the suite fast)."""
    return {alg: generate_key(alg, rsa_bits=2048) for alg in sorted(ALGORITHMS)}


@pytest.fixture
def clock() -> FrozenClock:
    """A frozen clock at NOW."""
    return FrozenClock(float(NOW))


@pytest.fixture(scope="session")
def forge() -> Any:
    """The forging helpers (claims, header, forge, with_signature) and constants."""
    return types.SimpleNamespace(
        ISSUER=ISSUER,
        AUDIENCE=AUDIENCE,
        NOW=NOW,
        claims=claims,
        header=header,
        forge=forge_token,
        with_signature=with_signature,
        enc=_enc,
    )
