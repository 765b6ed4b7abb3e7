"""A lean HTTP/1.1 keep-alive client for plain-HTTP upstreams (httptools parser).

Measured on loopback, aiohttp's client spends ~7x the CPU per request of a
bare protocol on the same parser; on the gateway's hot path that is the
largest cost after the server itself. This client does only what a reverse
proxy needs: pooled keep-alive connections per upstream, a request written in
one ``write`` (bodies of unknown length chunked, RFC 9112 section 7.1),
response headers as raw bytes and the body streamed with back-pressure.
``https`` upstreams and ``HEAD`` requests (whose responses have a
``Content-Length`` but no body, which the parser cannot know) use aiohttp.
"""

from __future__ import annotations

import asyncio
from collections import deque

import httptools

from jwtgate.gateway.deadlines import Deadlines
from jwtgate.gateway.head_memo import HEADS, remember
from jwtgate.gateway.headers import HOP_BY_HOP
from jwtgate.gateway.upstream_headers import pairs, without_named
from jwtgate.gateway.upstream_stream import Streaming
from jwtgate.gateway.upstream_wait import UpstreamClosed, Waits

__all__ = ["Connection", "UpstreamClosed", "pairs"]

_HIGH_WATER = 1 << 20  # buffered response bytes past which reading pauses
# Never forwarded to the client: hop-by-hop fields (RFC 9110 section 7.6.1),
# and Date, which our server writes itself (section 6.6.1; not two of them).
# Content-Length is forwarded but also noted apart, for the server's framing.
_SET_ASIDE = HOP_BY_HOP | {b"date", b"content-length"}


class Connection(Waits, Streaming, asyncio.Protocol):
    """One upstream connection carrying one request at a time."""

    def __init__(self, key: tuple[str, int], deadlines: Deadlines) -> None:
        Waits.__init__(self, asyncio.get_running_loop(), deadlines)
        self.key = key
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.reused = False
        # The response as it is parsed (with headers_done and error): plain
        # attributes, read once per request by whoever waits.
        self.status = 0
        self.complete = False
        # End-to-end fields as the client will see them: name (lower-case),
        # b": ", value, b"\r\n" each, so that the server writes them with one
        # join; Content-Length among them, its value also in ``length``.
        self.fields: list[bytes] = []
        self.length: bytes | None = None
        # Values of the response's Connection fields other than keep-alive:
        # the fields they name are hop-by-hop too (RFC 9110 section 7.6.1).
        self.connection: tuple[bytes, ...] = ()
        # The Transfer-Encoding value, if any: with Content-Length it decides
        # whether the body ends only where the upstream closes (RFC 9112 section 6.3).
        self._coding: bytes | None = None
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._write_ready: asyncio.Future[None] | None = None
        self._got_bytes = False
        self.keep_alive = True
        self._paused = False
        self._rest = True  # the parser at a message boundary
        self._misses = -1  # whole responses the memo did not know, since a hit

    # ----------------------------------------------------------- protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the response parser (or take a known head), then wake whoever waits."""
        self._got_bytes = True
        # The response's start, the parser at rest: a head it took before, followed
        # by as many bytes as then, parses as it did then (jwtgate.gateway.head_memo).
        fresh = self._rest and not self.complete
        known = HEADS.get(len(data)) if fresh else None
        if known is not None and data.startswith(known[0]):
            head, self.status, fields, self.length, self.connection, self.keep_alive = known
            self.fields = list(fields)  # the memo's own stay as the parser made them
            end = len(head)
            if end < len(data):
                self._body.append(data[end:])
                self._buffered += len(data) - end
            self.headers_done = self.complete = True
            self._misses = -1
        else:
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserError:
                if not self.complete:
                    self._fail()
                    return
                self.close()  # on_message_begin refused a message after the response
            if fresh and self.complete and self._rest and self._coding is None:
                # One whole response in one read, checked and copied on the first
                # such miss after a hit (a Date just changed) and one in 16 otherwise:
                # heads that never repeat (a per-response id or cookie) cost little.
                misses = self._misses = self._misses + 1
                if not misses & 15:
                    remember(
                        data,
                        self.status,
                        self.fields,
                        self.length,
                        self.connection,
                        self.keep_alive,
                        self._body,
                    )
        # Woken once the parser has returned, never from its callbacks: the
        # waiter may reuse this connection. Whoever waits looks at the state
        # and waits again if it must; a small response wakes it once.
        progress = self.on_progress
        if progress is not None:
            self.on_progress = None
            progress()
        elif self._waiter is not None:
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        """End a close-delimited body, fail any other unfinished response; never reuse."""
        if not self.complete:
            if exc is None and self.headers_done and self.error is None and self._until_close():
                # RFC 9112 section 6.3, last rule: without Content-Length or a
                # final chunked coding, the body is what arrived before the
                # upstream closed. The parser is never told of the end (httptools
                # has no finish call), so the end is recorded here.
                self.complete = True
                self.keep_alive = False
                self._notify()
            else:
                self._fail()
        self.keep_alive = False
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)

    def pause_writing(self) -> None:
        """The socket buffer is full: make streaming bodies wait."""
        self._write_ready = self._loop.create_future()

    def resume_writing(self) -> None:
        """The socket buffer drained."""
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_result(None)
        self._write_ready = None

    # ------------------------------------------------------ parser hooks
    def on_header(self, name: bytes, value: bytes) -> None:
        """Parser callback: one response header (hop-by-hop ones and Date set aside)."""
        if self.headers_done:
            # A trailer field of a chunked body. RFC 9110 section 6.5.1: never
            # merged into the header section (a Content-Length or Set-Cookie
            # trailer would otherwise rewrite the client's framing or cookies);
            # a recipient that removes the chunked coding may discard them.
            return
        name = name.lower()
        if name in _SET_ASIDE:
            if name == b"content-length":
                self.length = value
            elif name == b"transfer-encoding":
                self._coding = value  # hop-by-hop: read for framing only
                return
            else:
                # keep-alive, the common value, names a field already hop-by-hop.
                if name == b"connection" and value.lower() != b"keep-alive":
                    self.connection += (value,)
                return
        self.fields += (name, b": ", value, b"\r\n")

    def on_headers_complete(self) -> None:
        """Parser callback: status line and headers are complete."""
        self.status = self._parser.get_status_code()
        self.headers_done = True
        self.keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        """Parser callback: a piece of the body (reading pauses past the high-water mark)."""
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def on_message_begin(self) -> None:
        """Parser callback: a message begins (the parser leaves its boundary)."""
        if self.complete:
            # A response nobody asked for yet (RFC 9112 section 9.3: responses
            # answer requests in order) would answer the wrong request: refused,
            # and data_received closes the connection.
            raise UpstreamClosed(False)
        self._rest = False

    def on_message_complete(self) -> None:
        """Parser callback: the response is complete (the parser back at a boundary)."""
        self._rest = True
        if self.status < 200:
            # An interim response (RFC 9110 section 15.2; not 101, where the parser
            # stops): dropped, as aiohttp's client does. Taken as final, the final
            # one would answer the connection's next request.
            self._new_message()
            return
        self.complete = True

    # ------------------------------------------------------------- helpers
    def _until_close(self) -> bool:
        coding = self._coding
        if coding is not None:
            return not coding.rstrip(b" \t").lower().endswith(b"chunked")
        return self.length is None

    def _fail(self) -> None:
        self.error = UpstreamClosed(not self._got_bytes)
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()
        self._notify()

    def end_to_end(self) -> list[tuple[bytes, bytes]]:
        """The response's fields for the client as ``(name, value)`` pairs."""
        return without_named(pairs(self.fields), list(self.connection))

    def take_body(self) -> bytes:
        """Everything buffered so far (the whole body once :attr:`complete`)."""
        body = self._body
        if len(body) == 1:
            data = body.popleft()  # a small body's one piece: no join, no copy
        else:
            data = b"".join(body)
            body.clear()
        self._buffered = 0
        if self._paused:
            self._resume()
        return data

    def _resume(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        """Abandon the connection (a request on it failed half-way)."""
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()

    def reuse(self) -> bool:
        """Prepare for the next request on this connection; False if it cannot carry one.

        The parser is kept: a reusable connection's parser stands at a message
        boundary, and llhttp parses the next response of a keep-alive
        connection from there.
        """
        transport = self.transport
        if not self.keep_alive or not self.complete or transport is None or transport.is_closing():
            return False
        self._new_message()
        self.error = None
        self.complete = self._got_bytes = False
        self.reused = True
        return True

    def _new_message(self) -> None:
        self.status, self.fields, self.length, self.connection = 0, [], None, ()
        self._coding = None
        self.headers_done = False

    def write(self, data: bytes) -> None:
        """Write a whole request (head and any body) in one piece."""
        transport = self.transport
        if transport is None:
            raise UpstreamClosed(True)
        transport.write(data)
