"""argon2id with the real OWASP defaults, and the shipped common-password list."""

from __future__ import annotations

import pytest

from jwtgate.auth.passwords import PasswordPolicy, Passwords, common_passwords
from jwtgate.config.auth import Argon2Settings


async def test_owasp_default_parameters_hash_and_verify() -> None:
    """OWASP Password Storage Cheat Sheet: argon2id, m=19456 KiB, t=2, p=1."""
    passwords = Passwords(Argon2Settings())
    digest = await passwords.hash("correct-horse-battery")
    assert digest.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await passwords.verify(digest, "correct-horse-battery")
    assert not await passwords.verify(digest, "correct-horse-batterY")
    assert not await passwords.verify(None, "correct-horse-battery")  # dummy hash path
    assert not await passwords.verify("not-a-hash", "x")
    assert not passwords.needs_rehash(digest)
    assert Passwords(Argon2Settings(time_cost=3)).needs_rehash(digest)
    assert passwords.verify_calls == 4


def test_common_password_list_is_shipped() -> None:
    words = common_passwords()
    assert len(words) >= 300
    for word in ("password", "123456", "qwerty", "iloveyou", "letmein", "password1"):
        assert word in words


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("eight-ch", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("1234567", False),
        ("PASSWORD1", False),
        ("correct horse battery staple", True),
        ("\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", True),  # NIST 800-63B: any Unicode
    ],
)
def test_policy(password: str, ok: bool) -> None:
    policy = PasswordPolicy()
    if ok:
        policy.check(password)
    else:
        with pytest.raises(Exception, match="password"):
            policy.check(password)
