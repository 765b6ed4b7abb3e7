"""Structured JSON access log: one line per request, never a token.

Tokens leak into logs through URLs more than anywhere else (RFC 6750
section 5.3 warns against query-string tokens for exactly this reason), so
the logged ``path`` is cut at ``?`` and ``#``, and anything shaped like a
compact JWS left in it is replaced by ``[redacted]``.  The JSON string
encoder escapes every control and non-ASCII character, so a
client-chosen path, subject or request id can never forge a log line
(CWE-117).
"""

from __future__ import annotations

import math
import re
import sys
import time
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import TextIO

__all__ = ["AccessLogger"]

# Three base64url segments whose first starts like a JSON object header ("{" -> "eyJ").
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_MAX_FIELD = 2048
# Fields that repeat from request to request (route, method, subject, client
# address) are kept JSON-encoded, so the encoder runs once per distinct value.
# Short values only, and a full table is emptied: bounded memory whatever
# the clients send.
_QUOTED_MAX = 4096
_QUOTED_LEN = 128


def _clean_path(path: str) -> str:
    if "?" in path or "#" in path:  # a decoded %3F or %23; the common path has neither
        cut = len(path)
        for sep in ("?", "#"):
            i = path.find(sep)
            if i != -1 and i < cut:
                cut = i
        path = path[:cut]
    if "eyJ" in path:
        path = _JWT_RE.sub("[redacted]", path)
    return path[:_MAX_FIELD]


class AccessLogger:
    """Writes one JSON object per request to a text stream (stdout by default).

    Lines are kept in the logger's own buffer and written in one call at
    most every ``flush_interval`` seconds (on the next request after it
    elapsed) or once ``max_lines`` are waiting, so a busy gateway makes few
    system calls even when the stream itself is unbuffered (``python -u``,
    ``PYTHONUNBUFFERED=1``, as container images often set), and a quiet one
    still shows its lines promptly; call :meth:`flush` from a periodic task
    to cover idle periods, and on shutdown.
    """

    __slots__ = (
        "_flush_interval",
        "_last_flush",
        "_lines",
        "_max_lines",
        "_owned",
        "_quoted",
        "_stream",
        "enabled",
    )

    def __init__(
        self,
        stream: TextIO | None = None,
        enabled: bool = True,
        *,
        flush_interval: float = 1.0,
        max_lines: int = 512,
    ) -> None:
        self._stream: TextIO = stream if stream is not None else sys.stdout
        self._owned = False
        self._flush_interval = flush_interval
        self._max_lines = max(1, max_lines)
        self._lines: list[str] = []
        self._last_flush = time.time()
        self.enabled = enabled
        self._quoted: dict[str, str] = {}

    @classmethod
    def to_file(
        cls, path: Path | str, *, buffering: int = 64 * 1024, flush_interval: float = 1.0
    ) -> AccessLogger:
        """A logger appending to ``path`` with a write buffer of ``buffering`` bytes."""
        stream = open(path, "a", encoding="utf-8", buffering=buffering)  # noqa: SIM115
        logger = cls(stream, flush_interval=flush_interval)
        logger._owned = True
        return logger

    def log(
        self,
        *,
        request_id: str,
        route: str,
        method: str,
        path: str,
        status: int,
        latency_ms: float,
        subject: str | None,
        error_code: str | None,
        client_ip: str | None,
    ) -> None:
        """Write one access-log line; ``path`` may include a query, which is dropped."""
        if not self.enabled:
            return
        if not math.isfinite(latency_ms):
            latency_ms = 0.0
        now = time.time()
        # Hand-assembled (every string through the JSON encoder, as a JSON
        # string literal, ASCII-only): about 3x cheaper than json.dumps of a
        # dict, and this runs on every request. Every field is cut to
        # _MAX_FIELD characters first (the path by _clean_path), a method to
        # 32, so only a method no cut shortens may share the table of
        # literals. A JSON literal is never empty: ``or`` calls _quote on a miss.
        quoted = self._quoted
        q = encode_basestring_ascii
        q_route = quoted.get(route) or self._quote(route)
        if len(method) <= 32:
            q_method = quoted.get(method) or self._quote(method)
        else:
            q_method = q(method[:32])
        q_sub = "null" if subject is None else quoted.get(subject) or self._quote(subject)
        q_ip = "null" if client_ip is None else quoted.get(client_ip) or self._quote(client_ip)
        if "?" in path or "#" in path or "eyJ" in path or len(path) > _MAX_FIELD:
            path = _clean_path(path)  # the common path needs none of its work
        line = (
            f'{{"ts":{now:.3f},"request_id":{q(request_id[:_MAX_FIELD])},'
            f'"route":{q_route},"method":{q_method},'
            f'"path":{q(path)},"status":{int(status)},'
            f'"latency_ms":{latency_ms:.3f},"sub":{q_sub},'
            f'"error":{"null" if error_code is None else q(error_code[:_MAX_FIELD])},'
            f'"client_ip":{q_ip}}}\n'
        )
        lines = self._lines
        lines.append(line)
        if now - self._last_flush >= self._flush_interval or len(lines) >= self._max_lines:
            self.flush()

    def _quote(self, value: str) -> str:
        """``value`` cut to _MAX_FIELD characters as a JSON string literal, kept if short."""
        quoted = encode_basestring_ascii(value[:_MAX_FIELD])
        if len(value) <= _QUOTED_LEN:
            if len(self._quoted) >= _QUOTED_MAX:
                self._quoted.clear()
            self._quoted[value] = quoted
        return quoted

    def flush(self) -> None:
        """Write the buffered lines in one call and push them to the stream's destination."""
        self._last_flush = time.time()
        lines = self._lines
        if lines:
            self._lines = []
            self._stream.write("".join(lines))
        self._stream.flush()

    def close(self) -> None:
        """Flush, and close the file if this logger opened it."""
        self.flush()
        if self._owned:
            self._stream.close()
