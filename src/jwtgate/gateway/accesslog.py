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
from time import perf_counter
from typing import TextIO

__all__ = ["AccessLogger"]

# Three base64url segments whose first starts like a JSON object header ("{" -> "eyJ").
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_MAX_FIELD = 2048
# Fields that repeat from request to request are kept JSON-encoded, so the
# encoder (and the path's cleaning) runs once per distinct value.
_QUOTED_MAX = 4096
_QUOTED_LEN = 128
# Status codes as text: an int formatted per line costs a call and a conversion.
_STATUS_TEXT = {status: str(status) for status in range(100, 1000)}
# A stamp is the wall-clock second's text and ".mmm" from this table; the
# second is formatted once a second, not ``f"{wall:.3f}"`` once a millisecond
# (a float to decimal text costs more than all of a line's other fields).
_MILLIS_TEXT = [f".{ms:03d}" for ms in range(1000)]
# Where each millisecond's rounding ends, in seconds into the second.
_MILLIS_UNTIL = [(ms + 0.5) / 1000.0 for ms in range(1000)]


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

    A request's time is the ``time.perf_counter()`` reading its latency is
    measured with; the wall-clock ``ts`` is that reading plus an offset taken
    again at every flush, so a request reads the clock once, and a step of
    the system clock shows within one flush interval.
    """

    __slots__ = (
        "_flush_at",
        "_flush_interval",
        "_lines",
        "_max_lines",
        "_methods",
        "_offset",
        "_owned",
        "_paths",
        "_quoted",
        "_second",
        "_second_at",
        "_stream",
        "_ts",
        "_ts_until",
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
        self._offset = time.time() - perf_counter()
        self._flush_at = perf_counter() + flush_interval
        self._ts = ""
        self._ts_until = 0.0
        # The wall-clock second being stamped, as text, and the perf_counter
        # reading it began at (infinite: none yet).
        self._second = ""
        self._second_at = math.inf
        self.enabled = enabled
        # JSON literals of values that repeat from request to request: route,
        # subject, error code and client address (None is ``null``); methods
        # (cut to 32) and paths (cleaned first) have tables of their own.
        self._quoted: dict[str | None, str] = {None: "null"}
        self._methods: dict[str | None, str] = {}
        self._paths: dict[str | None, str] = {}

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
        request_id: str | bytes,
        route: str,
        method: str,
        path: str,
        status: int,
        latency_ms: float,
        subject: str | None,
        error_code: str | None,
        client_ip: str | None,
        now: float | None = None,
    ) -> None:
        """Write one access-log line; ``path`` may include a query, which is dropped.

        ``now`` is the request's ``perf_counter()`` reading, if the caller has
        one. Every string goes through the JSON encoder (as a JSON string
        literal, ASCII-only), cut to _MAX_FIELD characters first (the path by
        _clean_path, a method to 32); a JSON literal is never empty, so ``or``
        quotes on a table miss only. A request id may be given as bytes (as
        the gateway keeps it, read as latin-1); one of ASCII letters and
        digits only (every id the gateway makes itself: hex) has nothing to
        escape and is written as it is, saving the encoder on every line.
        """
        if not self.enabled:
            return
        if latency_ms - latency_ms != 0.0:  # NaN or infinite (math.isfinite, without a call)
            latency_ms = 0.0
        if now is None:
            now = perf_counter()
        if now >= self._ts_until:
            # The wall-clock time to the millisecond, made once for all the
            # lines of that millisecond, and from the second's text and a
            # table while the second lasts.
            into = now - self._second_at  # rounds into this second below 0.9995
            ms = int(into * 1000.0 + 0.5) if 0.0 <= into < 0.9995 else self._new_second(now)
            self._ts = self._second + _MILLIS_TEXT[ms]
            self._ts_until = self._second_at + _MILLIS_UNTIL[ms]
        quoted = self._quoted
        try:  # subscripts, not .get calls: every value is in its table but the first time
            q_route = quoted[route]
            q_method = self._methods[method]
            q_path = self._paths[path]
            q_sub = quoted[subject]
            q_error = quoted[error_code]
            q_ip = quoted[client_ip]
            q_status = _STATUS_TEXT[status]
        except KeyError:
            q_route = quoted.get(route) or self._quote(route)
            q_method = self._methods.get(method) or self._quote_method(method)
            q_path = self._paths.get(path) or self._quote_path(path)
            q_sub = quoted.get(subject) or self._quote(subject)
            q_error = quoted.get(error_code) or self._quote(error_code)
            q_ip = quoted.get(client_ip) or self._quote(client_ip)
            q_status = _STATUS_TEXT.get(status) or str(int(status))
        # bytes.isalnum is ASCII-only (str.isalnum is not: "é" is alphanumeric).
        if request_id.__class__ is bytes and request_id.isalnum() and len(request_id) <= _MAX_FIELD:
            q_id = request_id.decode("ascii")
        else:
            if isinstance(request_id, bytes):
                request_id = request_id.decode("latin-1")
            q_id = encode_basestring_ascii(request_id[:_MAX_FIELD])[1:-1]
        line = (
            f'{{"ts":{self._ts},"request_id":"{q_id}",'
            f'"route":{q_route},"method":{q_method},"path":{q_path},'
            f'"status":{q_status},"latency_ms":{latency_ms:.3f},'
            f'"sub":{q_sub},"error":{q_error},"client_ip":{q_ip}}}\n'
        )
        lines = self._lines
        lines.append(line)
        if now >= self._flush_at or len(lines) >= self._max_lines:
            self.flush()

    def _new_second(self, now: float) -> int:
        """Start stamping the wall-clock second ``now`` rounds into; its milliseconds."""
        second, ms = divmod(math.floor((now + self._offset) * 1000.0 + 0.5), 1000)
        self._second = str(second)
        self._second_at = second - self._offset
        return int(ms)

    def _quote(self, value: str | None) -> str:
        """``value`` cut to _MAX_FIELD characters as a JSON string literal, kept if short."""
        if value is None:
            return "null"  # only after the table was emptied: it is seeded with None
        quoted = encode_basestring_ascii(value[:_MAX_FIELD])
        return self._keep(self._quoted, value, quoted)

    def _quote_method(self, method: str) -> str:
        return self._keep(self._methods, method, encode_basestring_ascii(method[:32]))

    def _quote_path(self, path: str) -> str:
        return self._keep(self._paths, path, encode_basestring_ascii(_clean_path(path)))

    @staticmethod
    def _keep(table: dict[str | None, str], value: str, quoted: str) -> str:
        # Short values only, and a full table is emptied (None stays ``null``):
        # bounded memory whatever the clients send.
        if len(value) <= _QUOTED_LEN:
            if len(table) >= _QUOTED_MAX:
                table.clear()
                table[None] = "null"
            table[value] = quoted
        return quoted

    def flush(self) -> None:
        """Write the buffered lines in one call and push them to the stream's destination."""
        now = perf_counter()
        self._offset = time.time() - now
        self._flush_at = now + self._flush_interval
        self._ts_until = 0.0  # the next line makes its stamp with the new offset
        self._second_at = math.inf
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
