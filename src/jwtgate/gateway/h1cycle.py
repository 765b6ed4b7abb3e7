"""One request/response cycle of the lean server: ASGI ``receive``/``send`` and framing.

The application sees exactly the messages uvicorn gives it: ``http.request``
with ``body``/``more_body``, ``http.disconnect`` once the client is gone or
the response is complete; it sends ``http.response.start`` then
``http.response.body`` messages. The head is held until the first body
message so that head and a complete body leave in one ``write``
(:mod:`jwtgate.gateway.h1framing`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from jwtgate.gateway.h1framing import UNSET, Framing
from jwtgate.gateway.h1wire import InternalError, error_response, where

if TYPE_CHECKING:
    from jwtgate.gateway.asgi import ASGIApp
    from jwtgate.gateway.h1proto import H1Protocol

__all__ = ["Cycle"]

_log = logging.getLogger("jwtgate.gateway")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}
# The body of a cycle no bytes arrived for: an immutable empty tuple, so a
# body-less request allocates no list (feed starts one).
_NO_BODY: tuple[bytes, ...] = ()


class Cycle(Framing):
    """The state of one request on a connection, and its ASGI callables."""

    __slots__ = (
        "_waiter",
        "body",
        "body_done",
        "buffered",
        "conn",
        "disconnected",
        "expect",
        "repeated",
        "scope",
        "task",
    )

    def __init__(
        self,
        conn: H1Protocol,
        scope: dict[str, Any],
        keep_alive: bool,
        expect: bool,
        body_done: bool = False,
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect = expect
        self.body_done = body_done  # True: no body (RFC 9112 section 6.3), complete with the head
        self.task: asyncio.Task[None] | None = None
        self.body: list[bytes] | tuple[bytes, ...] = _NO_BODY
        self.buffered = 0
        self.disconnected = False
        self.started = False
        self.response_done = False
        self._framing = UNSET
        self._waiter: asyncio.Future[None] | None = None
        # Started from the connection's kept parse of a repeated read
        # (H1Connection.again): the fast lane's memo is worth a look.
        self.repeated = False
        # _status, _headers, _fields, _length and _remaining stay unset until
        # the response starts: respond and send set them before _head reads
        # them, and _remaining comes with a Content-Length framing.

    # ------------------------------------------------- fed by the protocol
    def feed(self, data: bytes) -> int:
        """Buffer body bytes; returns how many are buffered (dropped after the response)."""
        if self.response_done:
            return 0
        body = self.body
        if isinstance(body, list):
            body.append(data)
        else:
            self.body = [data]
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
        if self._framing == UNSET and not self.disconnected:
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
        self.body = _NO_BODY
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
            self._fields = False
            self._length = None
            return
        if self.response_done or kind != "http.response.body":
            raise RuntimeError("unexpected ASGI message")
        self._write(message.get("body", b""), message.get("more_body", False))

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
