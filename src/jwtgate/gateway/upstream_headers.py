"""Header fields at the upstream boundary, for both upstream clients.

The request head the lean client writes, and which of the upstream's
response fields reach the client: hop-by-hop fields (RFC 9110 section 7.6.1)
and Date stay behind.
"""

from __future__ import annotations

from operator import itemgetter

from jwtgate.gateway.headers import HOP_BY_HOP

__all__ = ["pairs", "request_head", "response_headers", "without_named"]

# uvicorn and the lean server write their own Date (RFC 9110 section 6.6.1); do not send two.
_DROPPED = HOP_BY_HOP | {b"date"}
_name = itemgetter(0)
# The start of the request line for the common methods (RFC 9110 section 9.3).
_LINES = {m: m.encode("ascii") + b" " for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


def pairs(fields: list[bytes]) -> list[tuple[bytes, bytes]]:
    """``(name, value)`` pairs of serialised fields (see ``client.Connection.fields``)."""
    return list(zip(fields[::4], fields[2::4], strict=True))


def without_named(
    headers: list[tuple[bytes, bytes]], connection: list[bytes]
) -> list[tuple[bytes, bytes]]:
    """``headers`` minus the fields the response's ``Connection`` values name.

    RFC 9110 section 7.6.1: they are hop-by-hop too. ``keep-alive``, the
    common value, names a field that is already hop-by-hop.
    """
    if not connection:  # the common response
        return headers
    named: set[bytes] | None = None
    for value in connection:
        if value.lower() != b"keep-alive":
            named = (named or set()) | {t.strip().lower() for t in value.split(b",")}
    if not named:
        return headers
    return [(name, value) for name, value in headers if name not in named]


def response_headers(
    raw: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers minus hop-by-hop ones and Date, names in lower case."""
    lowered = [(name.lower(), value) for name, value in raw]
    kept = [(name, value) for name, value in lowered if name not in _DROPPED]
    return without_named(kept, [value for name, value in lowered if name == b"connection"])


def request_head(
    method: str,
    target: bytes,
    host: bytes,
    headers: list[tuple[bytes, bytes]],
    end: bytes = b"",
    base: bytes = b"",
) -> bytes:
    """The request line (``base`` + ``target``), Host and ``headers``, then ``end``.

    ``end`` is what follows the fields: empty, the blank line that ends the
    head, or framing fields with it; one join builds the whole head.
    """
    # Joined in C, without a Python-level loop over the fields (no name or
    # value holds CR or LF: the parser refuses them, identity values are
    # refused in forward._text). Names are lower case; finding Expect among
    # them, not in the joined bytes, skips a search through the token.
    if b"expect" in map(_name, headers):  # compared in C, name by name
        # Expect is answered by our own server; forwarding it would make the
        # upstream send an interim 100 response we have no use for.
        lines = b"\r\n".join([b": ".join(field) for field in headers if field[0] != b"expect"])
    else:
        lines = b"\r\n".join(map(b": ".join, headers))
    line = _LINES.get(method) or method.encode("ascii") + b" "
    after = b"\r\n" if lines else b""
    return b"".join((line, base, target, b" HTTP/1.1\r\nhost: ", host, b"\r\n", lines, after, end))
