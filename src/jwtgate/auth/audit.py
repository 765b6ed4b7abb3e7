"""Structured security audit log: JSON lines in ``<data_dir>/audit.jsonl``.

Events: ``login_success``, ``login_failure``, ``lockout``, ``refresh``,
``refresh_reuse_detected``, ``revocation``, ``logout``, ``logout_all``,
``key_rotation``, ``user_added`` ... Fields are chosen by the callers from a
fixed vocabulary (usernames, client ids, family ids, jtis, ips, reasons);
passwords, tokens and secrets are never passed in, and :meth:`AuditLog.emit`
drops any field whose name says it could hold one (defence in depth).
"""

from __future__ import annotations

import collections
import json
import logging
import os
from pathlib import Path
from typing import Any

from jwtgate.clock import Clock, system_clock

__all__ = ["AuditLog"]

_log = logging.getLogger("jwtgate.audit")
_FORBIDDEN = ("password", "secret", "token", "cookie", "authorization")


class AuditLog:
    """Append-only JSON-lines audit log with the most recent events kept in memory."""

    def __init__(self, path: Path | None, *, keep: int = 500, clock: Clock = system_clock) -> None:
        self._path = path
        self._clock = clock
        self._recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self._fd: int | None = None
        self._keep = keep

    def _open(self) -> int | None:
        if self._fd is None and self._path is not None:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # O_APPEND keeps concurrent writers (CLI and server) line-atomic.
            self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Record one event; returns the record as written."""
        record: dict[str, Any] = {"ts": round(self._clock(), 3), "event": event}
        for key, value in fields.items():
            if value is None or any(word in key.lower() for word in _FORBIDDEN):
                continue
            record[key] = value
        self._recent.append(record)
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        try:
            fd = self._open()
            if fd is not None:
                os.write(fd, line.encode("utf-8"))
        except OSError:
            _log.exception("cannot write the audit log")
        return record

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` events, newest first (from the file when this process has none)."""
        if not self._recent and self._path is not None and self._path.exists():
            self._load_tail()
        items = list(self._recent)[-limit:] if limit > 0 else []
        items.reverse()
        return items

    def _load_tail(self) -> None:
        if self._path is None:
            return
        with self._path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 512 * self._keep))
            lines = fh.read().splitlines()[-self._keep :]
        for raw in lines:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                self._recent.append(record)

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
