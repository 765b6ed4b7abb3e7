"""Request lifecycle of one lean-server connection: pipelining, keep-alive, refusals.

:class:`H1Connection` holds a connection's state and decides what happens
between requests; :class:`jwtgate.gateway.h1proto.H1Protocol` adds the
``asyncio`` callbacks and llhttp hooks that feed it. Requests on one
connection run strictly one at a time, in order (RFC 9112 section 9.3.2);
pipelined ones wait in a short queue while reading pauses, and request bodies
are buffered up to ``body_buffer`` bytes with reading paused until the
application takes them. A refused request is answered once the requests
accepted before it are done, then the connection closes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import httptools

from jwtgate.gateway.errors import GatewayError
from jwtgate.gateway.h1cycle import Cycle
from jwtgate.gateway.h1wire import ListenerState, RequestTimeout, error_response

if TYPE_CHECKING:
    from jwtgate.gateway.frontmemo import FrontMemo
    from jwtgate.gateway.h1proto import H1Protocol

__all__ = ["H1Connection"]

_ASGI = {"version": "3.0", "spec_version": "2.3"}


class H1Connection:
    """Per-connection state and request control of the lean HTTP/1.1 server.

    The parser is created here with ``self`` as its callback object; the
    callbacks themselves live on the :class:`~jwtgate.gateway.h1proto.H1Protocol`
    subclass.
    """

    def __init__(self, state: ListenerState) -> None:
        self.state = state
        limits = self.limits = state.limits
        self.loop = state.loop
        # Read on every request: copied here once per connection.
        self._scheme = state.scheme
        self._max_headers = limits.max_headers
        self._max_pipeline = limits.max_pipeline
        self._header_timeout = limits.header_timeout
        self.parser = httptools.HttpRequestParser(self)
        # The application's fast lane, if it has one: ``lane.take(cycle)``
        # takes a request without a task, or returns False (jwtgate.gateway.lane).
        lane = getattr(state.app, "lane", None)
        self._lane: Callable[[Cycle], bool] | None = lane.take if lane is not None else None
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self._scope = self.scope_template()
        self.deadline = 0.0
        self.current: Cycle | None = None  # the request the application is handling
        self.parsing: Cycle | None = None  # the request whose body is being parsed
        self.queue: deque[Cycle] = deque()
        self.write_waiter: asyncio.Future[None] | None = None
        self.closed = False
        # Stages 1-3 of the last request the fast lane took, for the next
        # one to reuse if it repeats it (jwtgate.gateway.frontmemo).
        self.front_memo: FrontMemo | None = None
        # Heads begun (a head with a body counts twice), and the bytes of the
        # last read that held exactly one whole body-less request with what
        # parsing it gave, once they came twice (again, keep_again).
        self._heads = 0
        self._again: bytes | None = None
        self._again_head: tuple[dict[str, Any], tuple[Any, ...]] | None = None
        self._url = b""
        # The last request target and its split (h1wire.split_target).
        self._last_url: bytes | None = None
        self._last_target: tuple[str, bytes, bytes] = ("", b"", b"")
        self._headers: list[tuple[bytes, bytes]] = []
        self._room = limits.max_header_bytes  # of the head being parsed (h1proto)
        self._head_raw = 0
        self._in_head = False
        # The read the next head began in, if at a boundary. Its request line
        # (RFC 9112 section 3) has no CR, LF or NUL in the method or target, so
        # an LF just after "method SP target SP HTTP/1.1 CR" ends that line:
        # a read that began with CR LF, or a longer line, has no LF there.
        self._first: bytes | None = None
        # Framing fields of the head being parsed; h1proto resets them once
        # read, so a request without them costs no store.
        self._framing = 0  # 1: Content-Length seen, 2: Transfer-Encoding seen
        self._te = b""
        self._expect = False
        self._eof = False
        self._read_paused = False
        self._stopped = False  # nothing more is read or parsed on this connection
        self._pending: GatewayError | None = None  # refusal to send once idle
        self._close_when_idle = False
        self._lingering = False

    def scope_template(self) -> dict[str, Any]:
        """The ASGI scope keys, in order, with what every request of this connection shares.

        The request's own values (version, method, target, headers, state)
        are placeholders that each request overwrites in its copy.
        """
        return {
            "type": "http",
            "asgi": _ASGI,
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self._scheme,
            "method": "GET",
            "root_path": "",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "headers": [],
            "state": {},
        }

    # ------------------------------------------------------------- control
    def start(self, cycle: Cycle) -> None:
        """Run the application for ``cycle`` (the connection's only running request)."""
        self.current = cycle
        self.deadline = 0.0
        lane = self._lane
        if lane is None or not lane(cycle):
            cycle.task = self.loop.create_task(cycle.run(self.state.app))

    def finished(self, cycle: Cycle) -> None:
        """The application returned: start the next queued request or go idle."""
        if cycle is not self.current:
            return
        self.current = None
        if self.closed:
            return
        if self.state.draining or not cycle.keep_alive:
            if not cycle.response_done:
                self.abort()
            elif not cycle.body_done and not self.state.draining and not cycle.expect:
                # Read and drop the rest of the body before closing, so the
                # close does not reset the connection under the response.
                self._lingering = True
                self.queue.clear()
                self.deadline = self.loop.time() + self.limits.keepalive_timeout
                self._resume()
            else:
                self.close()
            return
        if self.queue:
            self.start(self.queue.popleft())
            if not self.queue:
                self._resume()
            return
        if self._pending is not None:
            self._send_refusal(self._pending)
            return
        if self._eof or self._close_when_idle:
            self.close()
            return
        if self._read_paused:
            self._resume()
        timeout = self.limits.header_timeout if self._in_head else self.limits.keepalive_timeout
        self.deadline = self.loop.time() + timeout

    def keep_again(self) -> None:
        """The last read, at a boundary between requests, held exactly one head: keep it.

        A keep-alive client (a poller, a service calling another with the same
        token) often sends the very same bytes request after request. Parsing
        is a pure function of those bytes (llhttp starts every request from
        the same state) and of this connection's limits, so what it gave here
        is what it would give again (:meth:`again`). Called for a read equal
        to the one before (``_again``; data_received keeps only the bytes of
        the first, so a client whose requests all differ pays no copies).
        Only a body-less, keep-alive request without ``Expect`` is kept, as
        its head came (the fast lane does not change the scope; a task has
        not run yet).
        """
        cycle = self.parsing
        if (
            self._again_head is None
            and cycle is not None
            and cycle.body_done
            and cycle.keep_alive
            and not cycle.expect
        ):
            # Copies: the application may change its scope and header list.
            scope = cycle.scope
            self._again_head = (scope.copy(), tuple(scope["headers"]))

    def again(self) -> None:
        """The kept request's bytes arrived again, between requests: start it without parsing.

        The same requests as feeding the bytes to llhttp would start: one
        scope and cycle, built as ``on_headers_complete`` builds them (with a
        header list of its own), with the parser left where it is, at the
        start of the next request.
        """
        kept = self._again_head
        assert kept is not None
        scope = kept[0].copy()
        scope["headers"] = list(kept[1])
        scope["state"] = {}
        cycle = Cycle(cast("H1Protocol", self), scope, True, False, True)
        cycle.repeated = True
        self.parsing = self.current = cycle
        # What start() does, inlined: this runs instead of a whole parse.
        self.deadline = 0.0
        lane = self._lane
        if lane is None or not lane(cycle):
            cycle.task = self.loop.create_task(cycle.run(self.state.app))

    def body_taken(self, cycle: Cycle) -> None:
        """The application consumed buffered body bytes: read more."""
        if cycle is self.parsing and not self.queue:
            self._resume()

    @property
    def busy(self) -> bool:
        """True while a request is in progress on this connection."""
        return self.current is not None

    def expire(self) -> None:
        """The current deadline passed: 408 for a half-sent head, else close."""
        self.deadline = 0.0
        if self.current is None and self._in_head and not self._stopped:
            self._refuse(RequestTimeout())
        elif self.current is None:
            self.close()
        else:
            self.abort()  # stuck reading a body or writing to a client that does not read

    def shutdown(self) -> None:
        """Graceful drain: close when idle, else after the response in progress."""
        self._stop()
        self.queue.clear()
        if self.current is None:
            self.close()
        else:
            self.current.keep_alive = False

    def close(self) -> None:
        """Close after pending writes."""
        self.deadline = 0.0
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping unsent data."""
        self.deadline = 0.0
        if self.transport is not None:
            self.transport.abort()

    # ------------------------------------------------------------- helpers
    def _pause(self) -> None:
        if not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self._read_paused and not self._stopped and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()

    def _stop(self) -> None:
        self._stopped = True
        self._pause()

    def _refuse(self, error: GatewayError | None) -> None:
        """Stop parsing; answer ``error`` (None: just close) now or after accepted requests."""
        self._stop()
        self._in_head = False
        if self.current is None:
            if error is None:
                self.close()
            else:
                self._send_refusal(error)
            return
        self._pending = error
        self._close_when_idle = True
        parsing = self.parsing
        if parsing is not None and not parsing.body_done:
            parsing.disconnect()  # a malformed body ends the request that was reading it

    def _send_refusal(self, error: GatewayError) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(error_response(error, self.state.date_line))
        self.close()
