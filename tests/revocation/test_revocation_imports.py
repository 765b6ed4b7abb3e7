"""redis-py is loaded only by deployments that use the Redis revocation store."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
import sys
import jwtgate.gateway.worker, jwtgate.auth.server, jwtgate.runtime
print("redis" in sys.modules)
from jwtgate.revocation import RedisRevocationStore, RevocationStoreUnavailable
print("redis" in sys.modules, RedisRevocationStore.__module__, RevocationStoreUnavailable.status)
"""


def test_redis_is_imported_only_when_asked_for() -> None:
    # A fresh interpreter: this test process may already have imported redis.
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[0] == "False"
    assert out[1] == "True jwtgate.revocation.redis 503"


def test_unknown_names_still_raise_attribute_error() -> None:
    import jwtgate.revocation

    with pytest.raises(AttributeError, match="NoSuchStore"):
        jwtgate.revocation.NoSuchStore  # type: ignore[attr-defined]  # noqa: B018
