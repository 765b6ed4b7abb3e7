"""One request/response cycle of the lean server: ASGI ``receive``/``send`` and framing.

The application sees exactly the messages uvicorn gives it: ``http.request``
with ``body``/``more_body``, ``http.disconnect`` once the client is gone or
the response is complete; it sends ``http.response.start`` then
``http.response.body`` messages. The head is held until the first body
message so that head and a complete body leave in one ``write``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from jwtgate.gateway.h1wire import (
    STATUS_LINES,
    InternalError,
    error_response,
    status_line,
    where,
)

if TYPE_CHECKING:
    from jwtgate.gateway.asgi import ASGIApp
    from jwtgate.gateway.h1proto import H1Protocol

__all__ = ["Cycle"]

_log = logging.getLogger("jwtgate.gateway")

_UNSET, _LENGTH, _CHUNKED, _NO_BODY, _UNTIL_CLOSE = range(5)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SMALL = 16_384
_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}
_FRAMING = frozenset({b"content-length", b"connection", b"transfer-encoding"})
# RFC 9110 sections 15.2, 15.3.5 and 15.4.5: responses that never have content.
_NO_CONTENT = frozenset({*range(100, 200), 204, 304})


class Cycle:
    """The state of one request on a connection, and its ASGI callables."""

    __slots__ = (
        "_fields",
        "_framing",
        "_headers",
        "_length",
        "_remaining",
        "_status",
        "_waiter",
        "body",
        "body_done",
        "buffered",
        "conn",
        "disconnected",
        "expect",
        "keep_alive",
        "response_done",
        "scope",
        "started",
        "task",
    )

    def __init__(
        self, conn: H1Protocol, scope: dict[str, Any], keep_alive: bool, expect: bool
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect = expect
        self.task: asyncio.Task[None] | None = None
        self.body: list[bytes] = []
        self.buffered = 0
        self.body_done = False
        self.disconnected = False
        self.started = False
        self.response_done = False
        self._framing = _UNSET
        self._status = 0
        self._headers: Any = ()
        self._fields = False
        self._length: bytes | None = None
        self._remaining = 0
        self._waiter: asyncio.Future[None] | None = None

    # ------------------------------------------------- fed by the protocol
    def feed(self, data: bytes) -> int:
        """Buffer body bytes; returns how many are buffered (dropped after the response)."""
        if self.response_done:
            return 0
        self.body.append(data)
        self.buffered += len(data)
        self._wake()
        return self.buffered

    def message_done(self) -> None:
        """The whole request body has arrived."""
        self.body_done = True
        if self._waiter is not None:  # no call for a request nobody waits on
            self._wake()

    def disconnect(self) -> None:
        """The client went away."""
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --------------------------------------------------------------- ASGI
    async def run(self, app: ASGIApp) -> None:
        """Call the application; a failure is a fixed 500 or a close, never a traceback."""
        try:
            await app(self.scope, self.receive, self.send)
        except Exception as exc:
            _log.error("request failed: %s", where(exc))
            self.fail()
        else:
            if not self.response_done and not self.disconnected:
                _log.error("the application returned without completing its response")
                self.fail()
        finally:
            self.conn.finished(self)

    def fail(self) -> None:
        """Answer a fixed 500 if nothing was written yet; never keep the connection."""
        self.keep_alive = False
        if self._framing == _UNSET and not self.disconnected:
            # Nothing was written yet (the head is held): a clean 500 is still possible.
            transport = self.conn.transport
            if transport is not None and not transport.is_closing():
                transport.write(error_response(InternalError(), self.conn.state.date_line))
            self.response_done = True

    async def receive(self) -> MutableMapping[str, Any]:
        """ASGI ``receive``: the next body piece, or ``http.disconnect``."""
        conn = self.conn
        if self.expect:
            self.expect = False
            # RFC 9110 section 10.1.1: the client waits for 100 before the body;
            # send it only when the application actually asks for the body.
            if not self.started and not self.body_done and conn.transport is not None:
                conn.transport.write(_CONTINUE)
        while not self.body and not self.body_done and not self.disconnected:
            if self.response_done:
                break
            conn.body_taken(self)
            loop = conn.loop
            waiter = self._waiter = loop.create_future()
            conn.deadline = loop.time() + conn.limits.io_timeout
            try:
                await waiter
            finally:
                self._waiter = None
                if conn.current is self:
                    conn.deadline = 0.0
        if self.disconnected or self.response_done:
            return _DISCONNECT.copy()
        body = self.body
        data = body[0] if len(body) == 1 else b"".join(body)
        self.body = []
        self.buffered = 0
        conn.body_taken(self)
        return {"type": "http.request", "body": data, "more_body": not self.body_done}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        """ASGI ``send``: hold the head, then write it with the first body bytes."""
        conn = self.conn
        if conn.write_waiter is not None and not self.disconnected:
            await self._drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError("expected http.response.start")
            self.started = True
            self._status = int(message["status"])
            self._headers = message.get("headers") or ()
            return
        if self.response_done or kind != "http.response.body":
            raise RuntimeError("unexpected ASGI message")
        self._write(message.get("body", b""), message.get("more_body", False))

    def respond(
        self,
        status: int,
        headers: Any,
        body: bytes,
        length: bytes | None = None,
        fields: bool = False,
    ) -> bool:
        """The whole response at once, without ASGI messages; False: use ``send``.

        The lean upstream client's common case (a complete small response)
        hands it over here: the same bytes as ``http.response.start`` and one
        final ``http.response.body``, minus two message dicts and two awaits.
        Only while nothing was sent and no write back-pressure is pending,
        since ``send`` would wait for the socket to drain first.

        ``headers`` are ``(name, value)`` pairs, or with ``fields`` the lean
        client's serialised fields (``Connection.fields``) whose Content-Length
        value is ``length``: written as they are, the same bytes as their pairs.
        """
        if self.started or self.conn.write_waiter is not None:
            return False
        if not self.disconnected:  # send() drops both messages for a gone client
            self.started = True
            self._status = status
            self._headers = headers
            self._fields = fields
            self._length = length
            self._write(body, False)
        return True

    def _write(self, body: bytes, more: bool) -> None:
        """Frame and write one piece of the response body (the head with the first)."""
        conn = self.conn
        head = self._head(body, more) if self._framing == _UNSET else b""
        framing = self._framing
        if framing == _LENGTH:
            if len(body) > self._remaining:
                _log.error("the application sent more than its Content-Length")
                body = body[: self._remaining]
                self.keep_alive = False
            self._remaining -= len(body)
        elif framing == _CHUNKED:
            chunk = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            body = chunk if more else chunk + b"0\r\n\r\n"
        elif framing == _NO_BODY:
            body = b""
        transport = conn.transport
        if transport is not None:
            if len(body) <= _SMALL:
                transport.write(head + body if head else body)
            else:
                transport.writelines((head, body))
        if not more:
            self.response_done = True
            if framing == _LENGTH and self._remaining:
                _log.error("the application sent less than its Content-Length")
                self.keep_alive = False
            if self._waiter is not None:
                self._wake()
            if not self.keep_alive and self.body_done:
                conn.close()

    async def _drain(self) -> None:
        conn = self.conn
        waiter = conn.write_waiter
        if waiter is None:
            return
        conn.deadline = conn.loop.time() + conn.limits.io_timeout
        try:
            await waiter
        finally:
            if conn.current is self:
                conn.deadline = 0.0

    def _head(self, body: bytes, more: bool) -> bytes:
        """Status line and headers; decides the framing (RFC 9112 section 6)."""
        status = self._status
        state = self.conn.state
        parts = [STATUS_LINES.get(status) or status_line(status), state.default_head]
        lines = 2 + state.default_lines  # status line, blank line, default lines
        length: int | None = None
        headers = self._headers
        if self._fields:
            # The lean client's fields as llhttp took them: names lower-case,
            # no Connection or Transfer-Encoding (hop-by-hop), and no CR, LF
            # or NUL in a name or value (the strict parser refuses them).
            parts += headers
            if self._length is not None:
                length = int(self._length)
        else:
            lines += len(headers)
            for name, value in headers:
                lname = name.lower()
                if lname in _FRAMING:
                    if lname == b"content-length":
                        length = int(value)
                    else:
                        # Connection and Transfer-Encoding are ours to write, matching
                        # what this server actually does with the connection and body.
                        if lname == b"connection" and b"close" in value.lower():
                            self.keep_alive = False
                        lines -= 1
                        continue
                parts += (lname, b": ", value, b"\r\n")
        scope = self.scope
        if status in _NO_CONTENT or scope["method"] == "HEAD":
            self._framing = _NO_BODY
        elif length is not None:
            self._framing = _LENGTH
            self._remaining = length
        elif not more:
            self._framing = _LENGTH
            self._remaining = len(body)
            parts.append(b"content-length: %d\r\n" % len(body))
            lines += 1
        elif scope["http_version"] == "1.1":
            self._framing = _CHUNKED
            parts.append(b"transfer-encoding: chunked\r\n")
            lines += 1
        else:
            self._framing = _UNTIL_CLOSE  # HTTP/1.0 has no chunked coding
            self.keep_alive = False
        if not self.body_done:
            # The rest of an unread body would be taken for the next request;
            # it is read and dropped, then the connection closes.
            self.keep_alive = False
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
            lines += 1
        elif scope["http_version"] == "1.0":
            parts.append(b"connection: keep-alive\r\n")
            lines += 1
        parts.append(b"\r\n")
        head = b"".join(parts)
        # Response splitting (CWE-113, RFC 9112 section 2.2): a name or value
        # with a CR, LF or NUL would let its bytes start a header or a response.
        # (Integer forms: ``0 in head`` is a memchr, ``b"\0" in head`` a search.)
        if not self._fields and (head.count(10) != lines or head.count(13) != lines or 0 in head):
            self._framing = _UNSET
            raise RuntimeError("invalid response header")
        return head
