"""File helpers for the keyring: owner-only permissions and atomic replacement."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from jwtgate.errors import KeyMaterialError

__all__ = ["check_private_file", "ensure_private_dir", "locked", "safe_kid", "write_atomic"]

# Thumbprints are base64url; anything else could escape the directory.
_KID_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")


def safe_kid(kid: object) -> str:
    """Validate a kid read from disk before it becomes part of a file name."""
    if not isinstance(kid, str) or _KID_RE.fullmatch(kid) is None:
        raise KeyMaterialError("keyring contains an invalid key id")
    return kid


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` as a 0700 directory (or tighten an existing one)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 via a temp file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def check_private_file(path: Path) -> bytes:
    """Read a private key file, refusing it if group or others may access it."""
    try:
        st = os.stat(path)
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyMaterialError(
                "a private key file is readable by others; chmod 600 it",
                detail=str(path),
            )
        return path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(
            "a private key file is missing or unreadable", detail=str(path)
        ) from exc


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock so two processes never rotate at once."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
