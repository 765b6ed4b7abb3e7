"""The local issuer's keyring: keys with states, rotation, JWKS.

The on-disk layout (``keyring.json`` and one file per key) lives in
:mod:`jwtgate.jose.keyring_store`.

States: ``active`` signs (exactly one); ``verify-only`` is published and
accepted until ``verify_until`` (max token lifetime + leeway after it stopped
signing, so every token it signed can still be verified); ``retired`` is
neither, and its private material is deleted.

:meth:`Keyring.generate` adds a *pre-published* key: ``verify-only`` with no
end date, so relying parties can cache it before it signs; the next
:meth:`Keyring.rotate` promotes the newest such key of the wanted algorithm
instead of creating a fresh one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from jwtgate.clock import Clock, system_clock
from jwtgate.errors import KeyMaterialError
from jwtgate.jose._storage import ensure_private_dir, locked
from jwtgate.jose.keyring_store import _META, KeyInfo, KeyringFiles, KeyState
from jwtgate.jose.keys import SigningKey, VerificationKey, generate_key

__all__ = ["Keyring"]

_RELOAD_MIN_INTERVAL = 1.0  # seconds between disk checks triggered by unknown kids


def _expired(info: KeyInfo, now: float) -> bool:
    return (
        info.state is KeyState.VERIFY_ONLY
        and info.verify_until is not None
        and info.verify_until <= now
    )


class Keyring(KeyringFiles):
    """Signing keys of the local issuer; also a :class:`KeySource` for its tokens."""

    def __init__(
        self, directory: Path, *, algorithm: str, rsa_bits: int, retain_seconds: float, clock: Clock
    ) -> None:
        """Use :meth:`open`."""
        self._dir = directory
        self._algorithm = algorithm
        self._rsa_bits = rsa_bits
        self._retain = retain_seconds
        self._clock = clock
        self._infos: list[KeyInfo] = []
        self._signing: dict[str, SigningKey] = {}
        self._trusted: dict[str, tuple[VerificationKey, float | None]] = {}
        self._stamp: tuple[int, int, int, int] | None = None
        self._raw = b""
        self._version = 0
        self._last_miss_reload = float("-inf")

    # ------------------------------------------------------------------ open
    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        algorithm: str = "ES256",
        rsa_bits: int = 3072,
        retain_seconds: float = 3630,
        clock: Clock = system_clock,
        create: bool = True,
    ) -> Keyring:
        """Load ``<data_dir>/keys``; create it with one active key if absent and ``create``."""
        ring = cls(
            Path(data_dir) / "keys",
            algorithm=algorithm,
            rsa_bits=rsa_bits,
            retain_seconds=retain_seconds,
            clock=clock,
        )
        if not (ring._dir / _META).exists():
            if not create:
                raise KeyMaterialError(
                    "no keyring found; run `jwtgate keys generate`", detail=str(ring._dir)
                )
            ensure_private_dir(ring._dir)
            with locked(ring._dir):
                if not (ring._dir / _META).exists():
                    ring._save([], {})
                    ring._load()
                    ring._add(algorithm, KeyState.ACTIVE)
        ring._load()
        if ring._active_info() is None:
            raise KeyMaterialError("the keyring has no active key")
        return ring

    # ----------------------------------------------------------- KeySource
    @property
    def version(self) -> int:
        """Changes whenever the trusted key set changes."""
        return self._version

    def get(self, kid: str) -> VerificationKey | None:
        """The trusted key (active or unexpired verify-only) with this kid."""
        entry = self._trusted.get(kid)
        if entry is None:
            # Another process may have rotated; check the disk at most once a second.
            now = self._clock()
            if now - self._last_miss_reload < _RELOAD_MIN_INTERVAL:
                return None
            self._last_miss_reload = now
            if not self.reload_if_changed():
                return None
            entry = self._trusted.get(kid)
            if entry is None:
                return None
        key, until = entry
        if until is not None and until <= self._clock():
            return None
        return key

    # -------------------------------------------------------------- public
    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        info = self._active_info()
        if info is None:  # pragma: no cover - open() guarantees one
            raise KeyMaterialError("the keyring has no active key")
        return self._signing[info.kid]

    def infos(self) -> list[KeyInfo]:
        """Metadata of every key, oldest first."""
        return list(self._infos)

    def jwks(self) -> dict[str, Any]:
        """Public JWKS of active and unexpired verify-only asymmetric keys (RFC 7517 section 5)."""
        now = self._clock()
        keys = [
            key.public_jwk()
            for key, until in self._trusted.values()
            if not key.is_symmetric and (until is None or until > now)
        ]
        return {"keys": keys}

    def export_private_pem(self, kid: str) -> bytes:
        """PKCS#8 PEM of a non-retired asymmetric key (for explicit export only)."""
        key = self._signing.get(kid)
        if key is None:
            raise KeyMaterialError("no such key with private material")
        return key.private_pem()

    def rotate(self, *, algorithm: str | None = None) -> SigningKey:
        """Make a new active key; the previous one stays verify-only for ``retain_seconds``."""
        with locked(self._dir):
            self._load()
            self._rotate_locked(algorithm or self._algorithm)
        return self.active

    def generate(self, algorithm: str | None = None) -> KeyInfo:
        """Add a pre-published key (verify-only, no end date); ``rotate`` promotes it."""
        with locked(self._dir):
            self._load()
            info = self._add(algorithm or self._algorithm, KeyState.VERIFY_ONLY)
        return info

    def retire(self, kid: str) -> KeyInfo:
        """Stop trusting ``kid`` now and delete its private material (a leaked key).

        Tokens it signed stop verifying at once, everywhere the keyring or the
        JWKS is read. The active key cannot be retired: rotate first, so that
        there is always a key to sign with.
        """
        with locked(self._dir):
            self._load()
            info = next((i for i in self._infos if i.kid == kid), None)
            if info is None:
                raise KeyMaterialError("no key with this kid in the keyring")
            if info.state is KeyState.ACTIVE:
                raise KeyMaterialError("the active key cannot be retired; rotate first")
            retired = replace(info, state=KeyState.RETIRED, verify_until=self._clock())
            self._save([retired if i.kid == kid else i for i in self._infos], {})
            self._load()
        return retired

    def maybe_rotate(self, interval: float) -> bool:
        """Rotate if the active key is older than ``interval``; retire expired keys.

        Safe to call from several processes: the decision is re-taken under
        the keyring lock, so a due rotation happens once, not once per process.
        """
        now = self._clock()
        self.reload_if_changed()
        if not self._rotation_due(now, interval) and not any(_expired(i, now) for i in self._infos):
            return False
        with locked(self._dir):
            self._load()  # another process may have rotated meanwhile
            if self._rotation_due(now, interval):
                self._rotate_locked(self._algorithm)
                return True
            self._save(self._retire_expired(list(self._infos)), {})
            self._load()
        return False

    def reload_if_changed(self) -> bool:
        """Re-read keyring.json if another process changed it; True if the key set changed."""
        before = self._version
        self._load()
        return self._version != before

    # ------------------------------------------------------------- private
    def _rotation_due(self, now: float, interval: float) -> bool:
        info = self._active_info()
        if info is None:
            return False
        since = info.activated_at if info.activated_at is not None else info.created_at
        return now - since >= interval

    def _rotate_locked(self, alg: str) -> None:
        infos = self._retire_expired(list(self._infos))
        now = self._clock()
        pending = [
            i
            for i in infos
            if i.state is KeyState.VERIFY_ONLY and i.verify_until is None and i.alg == alg
        ]
        new_files: dict[str, SigningKey] = {}
        if pending:
            chosen = pending[-1]
        else:
            key = generate_key(alg, rsa_bits=self._rsa_bits)
            chosen = KeyInfo(key.kid, alg, KeyState.VERIFY_ONLY, now, None)
            infos.append(chosen)
            new_files[key.kid] = key
        out: list[KeyInfo] = []
        for info in infos:
            if info.kid == chosen.kid:
                info = replace(info, state=KeyState.ACTIVE, verify_until=None, activated_at=now)
            elif info.state is KeyState.ACTIVE:
                info = replace(info, state=KeyState.VERIFY_ONLY, verify_until=now + self._retain)
            out.append(info)
        self._save(out, new_files)
        self._load()

    def _active_info(self) -> KeyInfo | None:
        return next((i for i in self._infos if i.state is KeyState.ACTIVE), None)

    def _retire_expired(self, infos: list[KeyInfo]) -> list[KeyInfo]:
        now = self._clock()
        return [
            replace(i, state=KeyState.RETIRED)
            if i.state is KeyState.VERIFY_ONLY
            and i.verify_until is not None
            and i.verify_until <= now
            else i
            for i in infos
        ]

    def _add(self, alg: str, state: KeyState) -> KeyInfo:
        key = generate_key(alg, rsa_bits=self._rsa_bits)
        now = self._clock()
        activated = now if state is KeyState.ACTIVE else None
        info = KeyInfo(key.kid, alg, state, now, None, activated)
        self._save([*self._retire_expired(list(self._infos)), info], {key.kid: key})
        self._load()
        return info
