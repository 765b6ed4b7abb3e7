"""Response heads the upstream parser already took, for upstreams that repeat theirs.

A keep-alive upstream answering the same resource, or answers of one fixed
shape (a health or status endpoint, a cached or static representation, a
fixed-size JSON document), sends the same response head byte for byte; only
its Date field changes, once a second (RFC 9110 section 6.6.1). Parsing that
head costs llhttp plus one Python callback per field. When such a response
arrives whole in one read, at a message boundary, the lean client
(:mod:`jwtgate.gateway.client`) takes what the parser produced for those exact
bytes from here instead and leaves the parser at its boundary, so the next
response parses normally.

Only what the parser produced is kept, under the exact bytes it took, so
nothing it refuses is ever accepted. Only Content-Length framing qualifies
(RFC 9112 section 6.3): its body is opaque to the parser, so the same head
followed by the same number of bytes parses the same whatever they are.
Chunked and close-delimited bodies, interim (1xx) responses and a response
with anything after its body in the read always go through the parser.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HEADS", "Head", "remember"]

# Bounds: the memo holds at most _ENTRIES heads of at most _HEAD_BYTES each
# (cleared when full: heads that differ by Date alone go stale every second).
_ENTRIES = 128
_HEAD_BYTES = 2048
_BODY_BYTES = 64 * 1024  # below the client's read-pause mark: one read, no back-pressure

# Body size, status, end-to-end fields, Content-Length, Connection values, keep-alive.
Head = tuple[int, int, tuple[bytes, ...], bytes, tuple[bytes, ...], bool]
HEADS: dict[bytes, Head] = {}


def remember(
    data: bytes,
    end: int,
    status: int,
    fields: list[bytes],
    length: bytes | None,
    connection: tuple[bytes, ...],
    keep_alive: bool,
    body: Iterable[bytes],
) -> None:
    """Keep the parse of ``data``: a whole response fed from a message boundary.

    ``end`` is where the first blank line ends (after ``b"\\r\\n\\r\\n"``),
    the rest is what the parser produced for ``data``, which it reported
    complete with nothing after it (the caller's checks).
    """
    size = len(data) - end
    if length is None or status < 200 or end > _HEAD_BYTES or size > _BODY_BYTES:
        return
    head = data[:end]
    # Every CR and LF of the head in CRLF pairs: the parser's head then ends
    # at the first blank line, where ``end`` is, and its body is the rest of
    # ``data`` exactly when the sizes agree.
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or head.count(b"\n") != crlf or sum(map(len, body)) != size:
        return
    if len(HEADS) >= _ENTRIES:
        HEADS.clear()
    HEADS[head] = (size, status, tuple(fields), length, connection, keep_alive)
