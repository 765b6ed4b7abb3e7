"""The key-source protocol the verifier looks keys up in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from jwtgate.jose.keys import VerificationKey

__all__ = ["KeySource", "StaticKeySource"]


@runtime_checkable
class KeySource(Protocol):
    """Trusted verification keys by ``kid``.

    ``version`` must change whenever the trusted set changes; the verifier
    drops its verified-token cache when it does.  ``get`` must return the same
    object for the same key while it stays trusted (the cache compares by
    identity).
    """

    @property
    def version(self) -> int:
        """Changes whenever the trusted set changes."""
        ...

    def get(self, kid: str) -> VerificationKey | None:
        """The trusted key with this kid, or ``None``."""
        ...


class StaticKeySource:
    """A fixed set of verification keys (tests, pinned configuration)."""

    get: Callable[[str], VerificationKey | None]
    """The key with this kid, or ``None``.

    The key dict's own ``get``, so the verifier's lookup is one C call; it is
    rebound, never mutated, when the set changes.
    """

    def __init__(self, keys: list[VerificationKey] | tuple[VerificationKey, ...] = ()) -> None:
        self._keys = {k.kid: k for k in keys}
        self.get = self._keys.get
        self._version = 1

    @property
    def version(self) -> int:
        """Bumped by :meth:`set_keys`."""
        return self._version

    def set_keys(self, keys: list[VerificationKey] | tuple[VerificationKey, ...]) -> None:
        """Replace the trusted set."""
        self._keys = {k.kid: k for k in keys}
        self.get = self._keys.get
        self._version += 1
