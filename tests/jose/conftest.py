"""Shared fixtures for the token-engine tests: keys are generated once per session."""

from __future__ import annotations

import pytest

from jwtgate.clock import FrozenClock
from jwtgate.jose import ALGORITHMS, SigningKey, generate_key

ISSUER = "https://issuer.test"
AUDIENCE = "api"


@pytest.fixture(scope="session")
def session_keys() -> dict[str, SigningKey]:
    """One key per algorithm (RSA 2048 to keep the suite fast)."""
    return {alg: generate_key(alg, rsa_bits=2048) for alg in sorted(ALGORITHMS)}


@pytest.fixture
def clock() -> FrozenClock:
    """A frozen clock at a fixed instant."""
    return FrozenClock(1_800_000_000.0)
