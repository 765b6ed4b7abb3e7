"""The response side of a lean-server cycle: head, framing and writes (RFC 9112 section 6).

:class:`Framing` is a base of :class:`~jwtgate.gateway.h1cycle.Cycle`: the
head is held until the first body bytes so that head and a complete body
leave in one ``write``; the framing (Content-Length, chunked, none, until
close) follows from the status, the request and what the application said.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from jwtgate.gateway.h1wire import STATUS_LINES, status_line

if TYPE_CHECKING:
    from jwtgate.gateway.h1proto import H1Protocol

__all__ = ["UNSET", "Framing"]

_log = logging.getLogger("jwtgate.gateway")

UNSET, _LENGTH, _CHUNKED, _NO_BODY, _UNTIL_CLOSE = range(5)
_SMALL = 16_384
# Content-Length values of small bodies, to compare a field's bytes with the
# body's length without parsing the field (int() of bytes costs several
# times more than a subscript and a compare).
_DECIMAL = tuple(b"%d" % n for n in range(2048))
_FRAMING = frozenset({b"content-length", b"connection", b"transfer-encoding"})
# RFC 9110 sections 15.2, 15.3.5 and 15.4.5: responses that never have content.
_NO_CONTENT = frozenset({*range(100, 200), 204, 304})


class Framing:
    """Writes a cycle's response: the state it decides here, and what it reads of the cycle."""

    __slots__ = (
        "_fields",
        "_framing",
        "_headers",
        "_length",
        "_remaining",
        "_status",
        "keep_alive",
        "response_done",
        "started",
    )

    _fields: bool
    _framing: int
    _headers: Any
    _length: bytes | None
    _remaining: int
    _status: int
    keep_alive: bool
    response_done: bool
    started: bool
    # The cycle's own (its slots).
    conn: H1Protocol
    scope: dict[str, Any]
    body_done: bool
    disconnected: bool
    _waiter: asyncio.Future[None] | None

    def _wake(self) -> None:
        """Wake the cycle's ``receive`` (the cycle's own)."""
        raise NotImplementedError

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
        conn = self.conn
        if self.started or conn.write_waiter is not None:
            return False
        if self.disconnected:  # send() drops both messages for a gone client
            return True
        self.started = True
        size = len(body)
        if (
            fields
            and length is not None
            and self.keep_alive
            and self.body_done
            and size < 2048
            and status not in _NO_CONTENT
            and length == _DECIMAL[size]
        ):
            scope = self.scope
            if scope["http_version"] == "1.1" and scope["method"] != "HEAD":
                # The proxied common case, what _write and _head decide for
                # it: the upstream's Content-Length frames the body, the
                # connection stays open, nothing more to add to the head.
                self._framing = _LENGTH
                self.response_done = True
                transport = conn.transport
                if transport is not None:
                    line = STATUS_LINES.get(status) or status_line(status)
                    transport.write(
                        b"".join([line, conn.state.default_head, *headers, b"\r\n", body])
                    )
                if self._waiter is not None:
                    self._wake()
                return True
        self._status = status
        self._headers = headers
        self._fields = fields
        self._length = length
        self._write(body, False)
        return True

    def _write(self, body: bytes, more: bool) -> None:
        """Frame and write one piece of the response body (the head with the first)."""
        conn = self.conn
        head = self._head(body, more) if self._framing == UNSET else b""
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
            self._framing = UNSET
            raise RuntimeError("invalid response header")
        return head
