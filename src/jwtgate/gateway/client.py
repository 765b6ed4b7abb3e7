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
from collections.abc import AsyncIterator
from typing import Protocol

import httptools

from jwtgate.gateway.deadlines import Deadlines
from jwtgate.gateway.headers import HOP_BY_HOP

__all__ = ["Connection", "UpstreamClosed", "Waiter"]

_HIGH_WATER = 1 << 20
_LOW_WATER = 1 << 18
# Never forwarded to the client: hop-by-hop fields (RFC 9110 section 7.6.1),
# and Date, which our server writes itself (section 6.6.1; not two of them).
_NOT_FORWARDED = HOP_BY_HOP | {b"date"}


class Waiter(Protocol):
    """What :meth:`Connection.watch` wakes: the parts of a future it uses."""

    def done(self) -> bool:
        """True once woken and not yet re-armed."""

    def set_result(self, result: None) -> None:
        """A step of the response happened."""

    def set_exception(self, exc: BaseException) -> None:
        """The read timeout passed."""


class UpstreamClosed(Exception):
    """The connection failed; ``before_response`` says whether any response byte arrived."""

    def __init__(self, before_response: bool) -> None:
        super().__init__("upstream connection closed")
        self.before_response = before_response


class Connection(asyncio.Protocol):
    """One upstream connection carrying one request at a time."""

    def __init__(self, key: tuple[str, int], deadlines: Deadlines) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self._deadlines = deadlines
        self.reused = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []  # end-to-end, names lower-case
        self.connection: list[bytes] = []  # values of the response's Connection fields
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._write_ready: asyncio.Future[None] | None = None
        self._headers_done = False
        self._complete = False
        self._got_bytes = False
        self._error: UpstreamClosed | None = None
        self._keep_alive = True
        self._paused = False

    # ----------------------------------------------------------- protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the response parser."""
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail()

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail an unfinished response; never reuse this connection."""
        if not self._complete:
            self._fail()
        self._keep_alive = False
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
        name = name.lower()
        if name in _NOT_FORWARDED:
            if name == b"connection":
                self.connection.append(value)
            return
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        """Parser callback: status line and headers are complete."""
        self.status = self._parser.get_status_code()
        self._headers_done = True
        self._keep_alive = self._parser.should_keep_alive()
        self._wake()

    def on_body(self, body: bytes) -> None:
        """Parser callback: a piece of the body (reading pauses past the high-water mark)."""
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        """Parser callback: the response is complete."""
        self._complete = True
        self._wake()

    # ------------------------------------------------------------- helpers
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            # Woken once is enough: whoever waits looks at the state and
            # arms a new waiter if it must wait again. The body and end of a
            # small response then cost no call to the waiter at all.
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self) -> None:
        self._error = UpstreamClosed(not self._got_bytes)
        self._keep_alive = False
        self._wake()
        if self.transport is not None:
            self.transport.close()

    async def _wait(self, seconds: float) -> None:
        # A bare future and a shared timer slot: asyncio.wait_for costs several
        # times more per call, and this runs at least once per proxied request.
        waiter = self._waiter = self._loop.create_future()
        deadlines = self._deadlines
        slot = deadlines.add(waiter, seconds)
        try:
            await waiter
        finally:
            deadlines.discard(waiter, slot)
            self._waiter = None

    @property
    def complete(self) -> bool:
        """True once the whole response has been received."""
        return self._complete

    @property
    def error(self) -> UpstreamClosed | None:
        """Why the connection failed, if it did."""
        return self._error

    def watch(self, waiter: Waiter, seconds: float) -> int:
        """Wake ``waiter`` as :meth:`response` wakes its future; fail it after ``seconds``.

        For a caller that waits by callback instead of awaiting: ``waiter``
        gets ``set_result(None)`` on each step of the response (head, body,
        end, failure) and ``set_exception(TimeoutError())`` from the shared
        timer. Returns the timer slot for :meth:`unwatch`.
        """
        self._waiter = waiter  # type: ignore[assignment]
        return self._deadlines.add(waiter, seconds)  # type: ignore[arg-type]

    def unwatch(self, waiter: Waiter, slot: int) -> None:
        """Stop waking ``waiter`` (woken, or no longer interested)."""
        self._deadlines.discard(waiter, slot)  # type: ignore[arg-type]
        if self._waiter is waiter:
            self._waiter = None

    def take_body(self) -> bytes:
        """Everything buffered so far (the whole body once :attr:`complete`)."""
        body = b"".join(self._body)
        self._body.clear()
        self._buffered = 0
        self._resume()
        return body

    def _resume(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    @property
    def usable(self) -> bool:
        """True if the connection can carry another request."""
        transport = self.transport
        return (
            self._keep_alive
            and self._complete
            and transport is not None
            and not transport.is_closing()
        )

    def close(self) -> None:
        """Abandon the connection (a request on it failed half-way)."""
        self._keep_alive = False
        if self.transport is not None:
            self.transport.close()

    def reset(self) -> None:
        """Prepare for the next request on this connection.

        The parser is kept: a usable connection's parser stands at a message
        boundary, and llhttp parses the next response of a keep-alive
        connection from there.
        """
        self.status, self.headers, self.connection = 0, [], []
        self._headers_done = self._complete = self._got_bytes = False
        self._error = None
        self.reused = True

    def write(self, data: bytes) -> None:
        """Write a whole request (head and any body) in one piece."""
        transport = self.transport
        if transport is None:
            raise UpstreamClosed(True)
        transport.write(data)

    async def send(self, head: bytes, body: AsyncIterator[bytes]) -> None:
        """Write the request head, then ``body`` with chunked coding."""
        transport = self.transport
        if transport is None:
            raise UpstreamClosed(True)
        transport.write(head)
        async for chunk in body:
            if self._error is not None:
                raise self._error
            if chunk:
                transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            if self._write_ready is not None:
                await self._write_ready
        transport.write(b"0\r\n\r\n")

    @property
    def headers_done(self) -> bool:
        """True once the status line and headers have arrived."""
        return self._headers_done

    async def response(self, seconds: float) -> None:
        """Wait for the status line and headers (each wait at most ``seconds``)."""
        # _wait inlined: one coroutine less on every proxied request.
        deadlines = self._deadlines
        while not self._headers_done:
            if self._error is not None:
                raise self._error
            waiter = self._waiter = self._loop.create_future()
            slot = deadlines.add(waiter, seconds)
            try:
                await waiter
            finally:
                deadlines.discard(waiter, slot)
                self._waiter = None

    async def chunks(self, seconds: float) -> AsyncIterator[bytes]:
        """The response body as it arrives."""
        body = self._body
        while True:
            while body:
                chunk = body.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < _LOW_WATER:
                    self._resume()
                yield chunk
            if self._complete:
                return
            if self._error is not None:
                raise self._error
            await self._wait(seconds)
