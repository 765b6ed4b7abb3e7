"""One HTTP/1.1 connection of the lean server: llhttp parsing, ASGI dispatch, framing.

An ``asyncio.Protocol`` on ``httptools.HttpRequestParser`` (llhttp, strict
mode: it refuses ``Content-Length`` together with ``Transfer-Encoding`` and
other smuggling shapes, RFC 9112 section 6.3; we check that again). This
module holds the transport callbacks and the parser hooks that turn a request
head into an ASGI scope; what happens between requests (pipelining, keep-alive,
deadlines, refusals) is :class:`jwtgate.gateway.h1conn.H1Connection`.
The response head is held until the first body bytes so that a small
response leaves in one ``write``; a complete body without ``Content-Length``
gets one, a streamed one is chunked (RFC 9112 section 7.1).
"""

from __future__ import annotations

import asyncio
import logging

import httptools

from jwtgate.gateway.errors import BadRequest, GatewayError, HeadersTooLarge, MethodNotAllowed
from jwtgate.gateway.h1conn import H1Connection
from jwtgate.gateway.h1cycle import Cycle
from jwtgate.gateway.h1wire import ServiceUnavailable, error_response, split_target

__all__ = ["H1Protocol"]

_log = logging.getLogger("jwtgate.gateway")
_METHODS = {
    m.encode("ascii"): m
    for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
}

_NO_CONNECT = frozenset(_METHODS.values())
_NOTED = frozenset({b"content-length", b"transfer-encoding", b"expect"})
# The longest read kept to be recognised again (h1conn.H1Connection.again).
_AGAIN_MAX = 4096


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing with a chosen response."""

    def __init__(self, error: GatewayError | None) -> None:
        super().__init__(error.code if error is not None else "closed")
        self.error = error


class H1Protocol(H1Connection, asyncio.Protocol):
    """The server side of one HTTP/1.1 connection."""

    # ------------------------------------------------------------ transport
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register the connection (or refuse it past ``max_connections``)."""
        self.transport = transport  # type: ignore[assignment]
        state = self.state
        if len(state.connections) >= self.limits.max_connections or state.draining:
            self.closed = self._stopped = True
            transport.write(error_response(ServiceUnavailable(), state.date_line))  # type: ignore[attr-defined]
            transport.close()
            return
        state.connections.add(self)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.client = (str(peer[0]), int(peer[1]))
        local = transport.get_extra_info("sockname")
        if isinstance(local, tuple):
            self.server = (str(local[0]), int(local[1]))
        self._scope = self.scope_template()
        # A connection that never completes a head is closed (slowloris).
        self.deadline = self.loop.time() + self.limits.header_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell every request of this connection that the client is gone."""
        self.closed = True
        self.deadline = 0.0
        self.state.connections.discard(self)
        for cycle in (self.current, self.parsing, *self.queue):
            if cycle is not None:
                cycle.disconnect()
        self.queue.clear()
        waiter = self.write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        """The client reads slower than we write: make ``send`` wait."""
        if self.write_waiter is None:
            self.write_waiter = self.loop.create_future()

    def resume_writing(self) -> None:
        """The socket buffer drained."""
        waiter, self.write_waiter = self.write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; a parse failure is a 400 (or the refusal a callback chose)."""
        if self._stopped:
            return
        if self._in_head:
            # llhttp buffers a header it has not finished; count raw head bytes
            # too, so one endless header line cannot grow without bound.
            self._head_raw += len(data)
            boundary = seen = False
        else:
            parsing = self.parsing
            boundary = parsing is None or parsing.body_done  # between two requests
            seen = boundary and data == self._again  # the same bytes as the kept read
            if seen and self._again_head is not None and not (self.current or self._lingering):
                self.again()
                return
            if boundary:
                self._first = data  # the next head begins in it (on_headers_complete)
        heads = self._heads
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The head asked for another protocol; we answer in HTTP/1.1 and
            # close (RFC 9110 section 7.8 lets a server ignore Upgrade), so the
            # bytes after the head are never interpreted.
            self._stop()
            if self.parsing is not None:
                self.parsing.message_done()
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            error = cause.error if isinstance(cause, _Refused) else BadRequest()
            self._refuse(error)
        else:
            if self._in_head:
                self._first = None  # a head split over reads asks llhttp for its version
                if self._head_raw > self.limits.max_header_bytes + 256:
                    self._refuse(HeadersTooLarge())
                elif self._head_raw == 0 and self.current is None:
                    # A head began in this read and is not complete: from now
                    # it must arrive within header_timeout (slowloris). A head
                    # complete in its read (most) needs no clock reading; one
                    # behind a running request is timed when that finishes.
                    self.deadline = self.loop.time() + self._header_timeout
            elif boundary and self._heads == heads + 1 and len(data) <= _AGAIN_MAX:
                # Exactly one whole request, from a boundary: the second time
                # in a row, kept to be started again (H1Connection.keep_again).
                if not seen:
                    self._again = data
                    self._again_head = None
                else:
                    self.keep_again()

    def eof_received(self) -> bool | None:
        """Half-close from the client: answer what arrived complete, then close."""
        cycle = self.current
        if cycle is None:
            return None
        self._eof = True
        if not cycle.body_done:
            cycle.disconnect()  # its body can never complete now
        return True

    # -------------------------------------------------------- parser hooks
    def on_message_begin(self) -> None:
        """Parser callback: a new request starts."""
        # _lingering: only the rest of the refused body was wanted. A full
        # queue: answer what is queued, then close; RFC 9112 section 9.3.2
        # has the client retry the requests left unanswered on a closed
        # connection.
        if self._lingering or len(self.queue) >= self._max_pipeline:
            raise _Refused(None)
        self._heads += 1
        self._in_head = True
        self._url = b""
        self._headers = []
        self._room = self.limits.max_header_bytes
        self._head_raw = 0
        # (_framing, _te and _expect are back to their defaults: the previous
        # head's on_headers_complete reset them, or refused the connection.)
        # The head's deadline is set once the read is parsed (data_received).

    def on_url(self, url: bytes) -> None:
        """Parser callback: (a piece of) the request target."""
        self._url += url
        self._room -= len(url)
        if self._room < 0:
            raise _Refused(HeadersTooLarge())

    def on_header(self, name: bytes, value: bytes) -> None:
        """Parser callback: one header field, counted against the head limits."""
        # The target, names and values (and 4 bytes a field for ": " and CRLF)
        # share max_header_bytes; _room is what is left of it.
        room = self._room - len(name) - len(value) - 4
        self._room = room
        headers = self._headers
        if room < 0 or len(headers) >= self._max_headers:
            raise _Refused(HeadersTooLarge())
        name = name.lower()
        if name in _NOTED:
            self._note(name, value)
        headers.append((name, value))

    def _note(self, name: bytes, value: bytes) -> None:
        if name == b"content-length":
            self._framing |= 1
        elif name == b"transfer-encoding":
            self._framing |= 2
            self._te = self._te + b"," + value if self._te else value
        elif value.lower() == b"100-continue":
            self._expect = True

    def on_headers_complete(self) -> None:
        """Parser callback: build the ASGI scope and start (or queue) the request."""
        self._in_head = False
        parser = self.parser
        framing = self._framing
        keep_alive = parser.should_keep_alive()
        raw_method = parser.get_method()
        # llhttp formats the version anew on every call: first see whether the
        # head's first read starts "method SP target SP HTTP/1.1 CRLF" (h1conn).
        first, self._first = self._first, None
        end = len(raw_method) + len(self._url) + 12
        if first is not None and first[end - 11 : end] == b" HTTP/1.1\r\n":
            version = "1.1"
        else:
            version = parser.get_http_version()
        if framing:
            self._framing, te, self._te = 0, self._te, b""
            self._heads += 1  # counted twice: a request with a body is never repeated
            if framing == 3:
                # Both framings at once is the request-smuggling shape (RFC 9112
                # section 6.3, CVE-2005-2088 class): refuse, never guess.
                raise _Refused(BadRequest("both Content-Length and Transfer-Encoding"))
            if framing == 2:
                # RFC 9112 section 6.3 item 4: chunked must be the final coding,
                # applied once, or the body length is unknowable: 400 and close.
                codings = [c.strip().lower() for c in te.split(b",")]
                if codings[-1] != b"chunked" or codings.count(b"chunked") != 1:
                    raise _Refused(BadRequest("unsupported Transfer-Encoding"))
                if version == "1.0":
                    # RFC 9112 section 6.1: Transfer-Encoding in HTTP/1.0 means
                    # faulty framing; serve this request, then close.
                    keep_alive = False
        method = _METHODS.get(raw_method)
        if method is None:
            method = raw_method.decode("ascii")
            if method == "CONNECT":
                # A gateway, not a forward proxy: no tunnels (RFC 9110 section 9.3.6).
                raise _Refused(MethodNotAllowed(_NO_CONNECT))
        upgrade = parser.should_upgrade()
        if upgrade:
            if framing:
                raise _Refused(BadRequest("upgrade requests cannot carry a body"))
            keep_alive = False
        url = self._url
        if url == self._last_url:
            # Keep-alive clients repeat targets: one entry per connection.
            target = self._last_target
        else:
            split = split_target(url)
            if split is None:
                raise _Refused(BadRequest("invalid request target"))
            self._last_url = url
            target = self._last_target = split
        # A copy of the connection's template with the request's own values:
        # the same keys in the same order as a literal, with fewer stores.
        scope = self._scope.copy()
        scope["http_version"] = version
        scope["method"] = method
        scope["path"], scope["raw_path"], scope["query_string"] = target
        scope["headers"] = self._headers
        scope["state"] = {}
        expect = self._expect
        if expect:
            self._expect = False
        # Neither Content-Length nor Transfer-Encoding: the body is empty
        # (RFC 9112 section 6.3), and complete with the head.
        cycle = Cycle(self, scope, keep_alive, expect, not framing and not upgrade)
        self.parsing = cycle
        if self.current is None:
            # H1Connection.start, inlined for the common request.
            self.current = cycle
            self.deadline = 0.0
            lane = self._lane
            if lane is None or not lane(cycle):
                cycle.task = self.loop.create_task(cycle.run(self.state.app))
        else:
            self.queue.append(cycle)
            self._pause()

    def on_body(self, body: bytes) -> None:
        """Parser callback: request body bytes (reading pauses past ``body_buffer``)."""
        cycle = self.parsing
        if cycle is not None and cycle.feed(body) > self.limits.body_buffer:
            self._pause()

    def on_message_complete(self) -> None:
        """Parser callback: the request (and its body) is complete."""
        cycle = self.parsing
        if cycle is not None and not cycle.body_done:
            # A body-less request was complete with its head (and nothing can
            # wait for a body that is done): no call on the common request.
            cycle.message_done()
        if self._lingering:
            self.close()
