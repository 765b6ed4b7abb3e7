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
# (cleared when full; a per-worker memory bound whatever the upstreams send).
_ENTRIES = 128
_HEAD_BYTES = 2048
_BODY_BYTES = 64 * 1024  # below the client's read-pause mark: one read, no back-pressure

# Head bytes, status, end-to-end fields, Content-Length, Connection values,
# keep-alive; keyed by the length of the whole response. A hit needs no
# search and no hash of the head: the response starts with the head (whose
# first blank line ends it, so it is this response's head too) and its
# length says the body is the rest. Responses of one length share one entry,
# the newest (a head whose Date changed replaces its predecessor).
Head = tuple[bytes, int, tuple[bytes, ...], bytes, tuple[bytes, ...], bool]
HEADS: dict[int, Head] = {}


def remember(
    data: bytes,
    status: int,
    fields: list[bytes],
    length: bytes | None,
    connection: tuple[bytes, ...],
    keep_alive: bool,
    body: Iterable[bytes],
) -> None:
    """Keep the parse of ``data``: a whole response fed from a message boundary.

    The rest is what the parser produced for ``data``, which it reported
    complete with no message begun after it (the caller's checks).
    """
    end = data.find(b"\r\n\r\n") + 4
    size = len(data) - end
    if length is None or status < 200 or not 3 < end <= _HEAD_BYTES or size > _BODY_BYTES:
        return
    head = data[:end]
    # Every CR and LF of the head in CRLF pairs: the parser's head then ends
    # at the first blank line, where ``end`` is, and its body is the rest of
    # ``data`` exactly when the sizes agree (no bytes after it).
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or head.count(b"\n") != crlf or sum(map(len, body)) != size:
        return
    if len(HEADS) >= _ENTRIES:
        HEADS.clear()
    HEADS[len(data)] = (head, status, tuple(fields), length, connection, keep_alive)
