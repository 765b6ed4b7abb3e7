"""What the keyring keeps on disk: key metadata, ``keyring.json`` and the key files.

Split out of :mod:`jwtgate.jose.keyring` so that the key lifecycle (rotation,
retirement, trust) reads apart from the storage format it persists to.

Layout of ``<data_dir>/keys/`` (directory 0700)::

    keyring.json      metadata only (kid, alg, state, created_at, verify_until)
    <kid>.pem         PKCS#8 private key, 0600      (RS256, PS256, ES256, EdDSA)
    <kid>.secret      raw HMAC secret, 0600         (HS256)
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jwtgate.errors import KeyMaterialError
from jwtgate.jose._storage import check_private_file, safe_kid, write_atomic
from jwtgate.jose.keys import SigningKey, VerificationKey, hmac_key, load_pem_key

__all__ = ["KeyInfo", "KeyState", "KeyringFiles"]

_META = "keyring.json"


class KeyState(enum.StrEnum):
    """Lifecycle state of a keyring entry."""

    ACTIVE = "active"
    VERIFY_ONLY = "verify-only"
    RETIRED = "retired"


@dataclass(frozen=True)
class KeyInfo:
    """Public metadata of one key (never any secret)."""

    kid: str
    alg: str
    state: KeyState
    created_at: float
    verify_until: float | None
    activated_at: float | None = None
    """When the key became active (a pre-published key is older than that)."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (as stored in keyring.json)."""
        return {
            "kid": self.kid,
            "alg": self.alg,
            "state": self.state.value,
            "created_at": self.created_at,
            "verify_until": self.verify_until,
            "activated_at": self.activated_at,
        }


def _info_from_json(item: Any) -> KeyInfo:
    try:
        until = item["verify_until"]
        activated = item.get("activated_at")
        return KeyInfo(
            kid=safe_kid(item["kid"]),
            alg=str(item["alg"]),
            state=KeyState(item["state"]),
            created_at=float(item["created_at"]),
            verify_until=None if until is None else float(until),
            activated_at=None if activated is None else float(activated),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyMaterialError("keyring.json is corrupt") from exc


class KeyringFiles:
    """Reading and writing a keyring directory; the base of :class:`~jwtgate.jose.Keyring`."""

    # Set by Keyring.__init__; declared here for the methods below.
    _dir: Path
    _infos: list[KeyInfo]
    _signing: dict[str, SigningKey]
    _trusted: dict[str, tuple[VerificationKey, float | None]]
    _stamp: tuple[int, int, int, int] | None
    _raw: bytes
    _version: int

    def _key_path(self, info: KeyInfo) -> Path:
        return self._dir / (f"{info.kid}.secret" if info.alg == "HS256" else f"{info.kid}.pem")

    def _save(self, infos: list[KeyInfo], new_keys: dict[str, SigningKey]) -> None:
        # Private files first, metadata last: a crash never leaves metadata
        # pointing at a key that was not written.
        for kid, key in new_keys.items():
            info = next(i for i in infos if i.kid == kid)
            data = key.secret_bytes() if key.alg == "HS256" else key.private_pem()
            write_atomic(self._key_path(info), data)
        doc = {"format": 1, "keys": [i.to_json() for i in infos]}
        write_atomic(self._dir / _META, json.dumps(doc, indent=2).encode("utf-8"))
        for info in infos:
            if info.state is KeyState.RETIRED:
                # Retired keys never sign or verify again; drop the secret.
                self._key_path(info).unlink(missing_ok=True)

    def _load(self) -> None:
        path = self._dir / _META
        try:
            st = os.stat(path)
        except OSError as exc:
            raise KeyMaterialError("the keyring is missing", detail=str(path)) from exc
        stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        raw = path.read_bytes()
        self._stamp = stamp
        if raw == self._raw:
            return
        try:
            doc = json.loads(raw)
            items = doc["keys"]
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyMaterialError("keyring.json is corrupt", detail=str(path)) from exc
        infos = [_info_from_json(item) for item in items]
        signing: dict[str, SigningKey] = {}
        trusted: dict[str, tuple[VerificationKey, float | None]] = {}
        for info in infos:
            if info.state is KeyState.RETIRED:
                continue
            key = self._signing.get(info.kid) or self._read_key(info)
            signing[info.kid] = key
            until = info.verify_until if info.state is KeyState.VERIFY_ONLY else None
            trusted[info.kid] = (key.verification_key(), until)
        self._infos, self._signing, self._trusted, self._raw = infos, signing, trusted, raw
        self._version += 1

    def _read_key(self, info: KeyInfo) -> SigningKey:
        data = check_private_file(self._key_path(info))
        key = hmac_key(data) if info.alg == "HS256" else load_pem_key(data, info.alg)
        if key.kid != info.kid:
            raise KeyMaterialError("a key file does not match its kid", detail=info.kid)
        return key
