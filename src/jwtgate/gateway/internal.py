"""``internal://NAME`` upstreams: ASGI applications called in-process.

The pipeline hands them an adjusted scope; this module caps the body they
read at the route's ``max_body_bytes``, as for URL upstreams, and turns a
crashing component into a bare 502 (never its traceback).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from jwtgate.gateway.asgi import ASGIApp, ClientGone, Message, Receive, Send
from jwtgate.gateway.errors import BadGateway, BodyTooLarge

__all__ = ["call_internal"]

_log = logging.getLogger("jwtgate.gateway")


def _limited(receive: Receive, limit: int) -> Receive:
    total = 0

    async def limited() -> Message:
        nonlocal total
        message = await receive()
        total += len(message.get("body", b""))
        if total > limit:
            raise BodyTooLarge()
        return message

    return limited


async def call_internal(
    app: ASGIApp,
    scope: MutableMapping[str, Any],
    receive: Receive,
    send: Send,
    max_body: int,
) -> int:
    """Call an in-process ASGI app; returns the status it sent (502 if none).

    The body the app reads is capped at ``max_body`` bytes, as for URL upstreams.
    """
    status = 0
    receive = _limited(receive, max_body)

    async def capture(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        await send(message)

    try:
        await app(scope, receive, capture)
    except (ClientGone, BodyTooLarge):
        raise
    except Exception:
        if status:
            raise  # the response is under way: only closing the connection is left
        # A crashing component is an upstream failure: 502, never its traceback.
        _log.exception("internal upstream failed")
        raise BadGateway() from None
    if status == 0:
        raise BadGateway()
    return status
