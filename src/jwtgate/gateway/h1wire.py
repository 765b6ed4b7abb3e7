"""Wire pieces of the lean HTTP/1.1 server: limits, status lines, canned responses.

Shared by :mod:`jwtgate.gateway.h1proto` (one connection) and
:mod:`jwtgate.gateway.h1server` (the listeners). Errors the server answers on
its own (malformed requests, oversized heads, timeouts) use the gateway's
JSON error body, so a client sees one error format whoever refused it.
"""

from __future__ import annotations

import asyncio
import http
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING
from urllib.parse import unquote

import httptools

from jwtgate.gateway.errors import GatewayError, render_error

if TYPE_CHECKING:
    from jwtgate.gateway.asgi import ASGIApp
    from jwtgate.gateway.h1proto import H1Protocol

__all__ = [
    "H1Limits",
    "InternalError",
    "ListenerState",
    "RequestTimeout",
    "ServiceUnavailable",
    "error_response",
    "split_target",
    "status_line",
    "where",
]


@dataclass(frozen=True, slots=True)
class H1Limits:
    """Per-connection limits of the lean server (all times in seconds)."""

    max_header_bytes: int = 16_384
    """Request line target plus header names and values (431 past it, RFC 6585 section 5)."""
    max_headers: int = 100
    """Header fields per request (431 past it)."""
    header_timeout: float = 10.0
    """A complete request head must arrive this fast (slowloris)."""
    keepalive_timeout: float = 5.0
    """An idle keep-alive connection is closed after this long."""
    io_timeout: float = 30.0
    """The longest wait for the next body bytes or for the client to read the response."""
    max_connections: int = 10_000
    """Concurrent connections per listener and worker (503 past it)."""
    max_pipeline: int = 32
    """Pipelined requests queued behind the one in progress before the connection ends."""
    body_buffer: int = 65_536
    """Request body bytes buffered before reading pauses until the application consumes."""


class RequestTimeout(GatewayError):
    """The client did not send a complete request head in time (slowloris)."""

    code = "request_timeout"
    status = 408
    default_description = "the request was not received in time"


class ServiceUnavailable(GatewayError):
    """The worker holds its maximum number of connections."""

    code = "service_unavailable"
    status = 503
    default_description = "the gateway is at its connection limit"


class InternalError(GatewayError):
    """The application failed before it started a response."""

    code = "internal_error"
    status = 500
    default_description = "the gateway could not handle the request"


def where(exc: BaseException) -> str:
    """Exception type and innermost frame: enough to find the bug, never its message.

    The message could quote request data (a token, a cookie); the type and
    location cannot.
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return type(exc).__name__
    return f"{type(exc).__name__} at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


def status_line(status: int) -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``."""
    try:
        phrase = http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %b\r\n" % (status, phrase)


STATUS_LINES = {code: status_line(code) for code in range(100, 600)}


def error_response(exc: GatewayError, date_line: bytes, *, close: bool = True) -> bytes:
    """A complete response for ``exc`` (JSON body; ``Connection: close`` by default)."""
    status, headers, body = render_error(exc)
    parts = [STATUS_LINES.get(status) or status_line(status), date_line]
    parts.extend(b"%b: %b\r\n" % (n, v) for n, v in headers)
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)


# Targets recently split: a pure function of the target, and clients repeat
# theirs. Short targets only, and a full table is emptied (bounded memory
# whatever the clients send).
_SPLIT: dict[bytes, tuple[str, bytes, bytes] | None] = {}
_SPLIT_MAX = 4096
_SPLIT_LEN = 256


def split_target(url: bytes) -> tuple[str, bytes, bytes] | None:
    """``(path, raw_path, query_string)`` of a request target, as uvicorn builds them.

    ``path`` is percent-decoded, ``raw_path`` is not; a fragment is dropped;
    the absolute form (RFC 9112 section 3.2.2) yields its path. None when the
    target cannot be parsed or is not ASCII.
    """
    split = _SPLIT.get(url)
    if split is None:
        split = _split_target(url)
        if split is not None and len(url) <= _SPLIT_LEN:
            if len(_SPLIT) >= _SPLIT_MAX:
                _SPLIT.clear()
            _SPLIT[url] = split
    return split


def _split_target(url: bytes) -> tuple[str, bytes, bytes] | None:
    if url[:1] == b"/" and b"#" not in url:
        raw_path, _, query = url.partition(b"?")  # origin form: no parser call needed
    else:
        try:
            parsed = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            return None
        raw_path, query = parsed.path or b"", parsed.query or b""
    try:
        path = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return None
    return (unquote(path) if "%" in path else path), raw_path, query


def _date_line() -> bytes:
    # RFC 9110 section 6.6.1: an origin server with a clock sends Date.
    return b"date: " + formatdate(usegmt=True).encode("ascii") + b"\r\n"


class ListenerState:
    """What every connection of one listener shares: app, limits, headers, bookkeeping."""

    __slots__ = (
        "_second",
        "app",
        "connections",
        "date_line",
        "default_head",
        "default_lines",
        "draining",
        "extra_head",
        "limits",
        "loop",
        "scheme",
    )

    def __init__(
        self,
        app: ASGIApp,
        limits: H1Limits,
        *,
        tls: bool,
        extra_headers: tuple[tuple[bytes, bytes], ...] = (),
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.scheme = "https" if tls else "http"
        self.loop = loop or asyncio.get_running_loop()
        self.connections: set[H1Protocol] = set()
        self.draining = False
        self.extra_head = b"".join(b"%b: %b\r\n" % (n, v) for n, v in extra_headers)
        self.default_lines = 1 + len(extra_headers)
        self._second = 0
        self.date_line = b""
        self.default_head = b""
        self.refresh_date()

    def refresh_date(self) -> None:
        """Recompute the ``Date`` line once per second (called by the server's sweeper)."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self.date_line = _date_line()
            self.default_head = self.date_line + self.extra_head

    def sweep(self) -> None:
        """Close every connection whose current deadline has passed."""
        self.refresh_date()
        now = self.loop.time()
        for conn in list(self.connections):
            deadline = conn.deadline
            if deadline and now >= deadline:
                conn.expire()
