"""Stage 1: sanitise inbound headers (anti-spoofing, hop-by-hop, size).

Runs on every request, public routes included, before anything reads a
header: identity headers a client could forge (``X-User-*``, ``X-Auth-*``,
every header a route forwards a claim in, configured extras) are dropped, so
an upstream can trust them; hop-by-hop headers (RFC 9110 section 7.6.1, plus
any header named in ``Connection``) are removed because they describe this
connection, not the request. Headers the later stages need are set aside.
"""

from __future__ import annotations

from jwtgate.gateway.compile import ALWAYS_STRIPPED_PREFIXES
from jwtgate.gateway.errors import BadRequest, HeadersTooLarge

__all__ = ["HOP_BY_HOP", "InboundHeaders", "sanitize"]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
"""RFC 9110 section 7.6.1 connection-specific fields (plus the legacy proxy-connection)."""

# Connection options that name no header field: close (RFC 9112 section 9.6)
# and HTTP/1.0's keep-alive (RFC 9112 appendix C.2.2).
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b""})

# Set aside for later stages rather than forwarded verbatim.
_TAKEN = frozenset(
    {
        b"authorization",
        b"host",
        b"cookie",
        b"content-length",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-request-id",
        b"origin",
        b"x-csrf-token",
    }
)


class InboundHeaders:
    """The sanitised request headers and the values later stages read."""

    __slots__ = (
        "authorization",
        "chunked",
        "content_length",
        "cookie",
        "csrf",
        "headers",
        "host",
        "origin",
        "request_id",
        "size",
        "xf_host",
        "xf_proto",
        "xff",
    )

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.authorization: list[bytes] = []
        self.host: bytes | None = None
        self.cookie: bytes | None = None
        self.content_length: int | None = None
        self.chunked = False
        self.xff: bytes | None = None
        self.xf_proto: bytes | None = None
        self.xf_host: bytes | None = None
        self.request_id: bytes | None = None
        self.origin: bytes | None = None
        self.csrf: bytes | None = None
        self.size = 0


def _take(out: InboundHeaders, name: bytes, value: bytes) -> None:
    if name == b"authorization":
        out.authorization.append(value)
    elif name == b"host":
        if out.host is not None:
            raise BadRequest("more than one Host header")  # RFC 9112 section 3.2
        out.host = value
    elif name == b"cookie":
        out.cookie = value if out.cookie is None else out.cookie + b"; " + value
    elif name == b"content-length":
        try:
            length = int(value)
        except ValueError:
            raise BadRequest("invalid Content-Length") from None
        if length < 0 or (out.content_length is not None and out.content_length != length):
            raise BadRequest("invalid Content-Length")  # RFC 9112 section 6.3
        out.content_length = length
    elif name == b"x-forwarded-for":
        out.xff = value if out.xff is None else out.xff + b", " + value
    elif name == b"x-forwarded-proto":
        out.xf_proto = value
    elif name == b"x-forwarded-host":
        out.xf_host = value
    elif name == b"x-request-id":
        out.request_id = value
    elif name == b"origin":
        out.origin = value
    else:  # x-csrf-token: checked by the gateway and forwarded as sent
        out.csrf = value
        out.headers.append((name, value))


def _underscore_alias(name: bytes, strip: frozenset[bytes]) -> bool:
    """Whether ``name`` spells a header this stage controls with ``_`` for ``-``.

    CGI and WSGI servers expose both ``X-User-Id`` and ``X_User_Id`` as
    ``HTTP_X_USER_ID`` (RFC 3875 section 4.1.18), so a forged ``x_user_id``
    would reach such an upstream as the identity header (the reason nginx
    drops underscored names by default).
    """
    dashed = name.replace(b"_", b"-")
    return (
        dashed in strip
        or dashed in _TAKEN
        or dashed in HOP_BY_HOP
        or dashed.startswith(ALWAYS_STRIPPED_PREFIXES)
    )


# What the loop in sanitize does with a field, by name: one dict lookup per
# field instead of a set lookup per category, a prefix test and an
# underscore search. Built per strip set (one per configuration) from the
# fixed sets, with names seen since added as classified by _verdict; only
# short names are added and a full table is rebuilt, so clients sending
# made-up names cannot grow it.
_KEEP, _DROP, _TAKE, _HOP = 0, 1, 2, 3
_KINDS_MAX = 1024
_KINDS_NAME = 64
_kinds: tuple[frozenset[bytes], dict[bytes, int]] | None = None


def _table(strip: frozenset[bytes]) -> dict[bytes, int]:
    """The name table for ``strip``: the fixed categories, later ones winning."""
    table = dict.fromkeys(strip, _DROP)
    table.update(dict.fromkeys(HOP_BY_HOP, _HOP))
    table.update(dict.fromkeys(_TAKEN, _TAKE))
    return table


def _verdict(name: bytes, strip: frozenset[bytes]) -> int:
    """A name in none of the fixed sets: dropped when it is a controlled
    prefix or an underscore alias of a controlled name, else kept."""
    if name.startswith(ALWAYS_STRIPPED_PREFIXES) or (
        # 0x5F is "_": an int operand is a memchr, a bytes one a slower search.
        0x5F in name and _underscore_alias(name, strip)
    ):
        return _DROP
    return _KEEP


def sanitize(
    raw: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...],
    strip: frozenset[bytes],
    max_bytes: int,
) -> InboundHeaders:
    """Sanitise ASGI request headers (names already lower-case).

    Raises :class:`HeadersTooLarge` (431, RFC 6585 section 5) when names and
    values together exceed ``max_bytes``, and :class:`BadRequest` for
    ambiguous framing headers.
    """
    global _kinds
    kinds = _kinds
    if kinds is None or kinds[0] is not strip:
        kinds = _kinds = (strip, _table(strip))
    table = kinds[1]
    out = InboundHeaders()
    keep = out.headers
    connection_named: set[bytes] | None = None
    size = 0
    for name, value in raw:
        size += len(name) + len(value) + 4
        kind = table.get(name)
        if kind is None:
            kind = _verdict(name, strip)
            if len(name) <= _KINDS_NAME:
                if len(table) >= _KINDS_MAX + len(strip):
                    table = _table(strip)
                    _kinds = (strip, table)
                table[name] = kind
        if kind == _KEEP:
            keep.append((name, value))
        elif kind == _TAKE:
            if name == b"authorization":
                out.authorization.append(value)
            elif name == b"host" and out.host is None:
                out.host = value
            else:  # the rest, and a second Host (refused there)
                _take(out, name, value)
        elif kind == _HOP:
            # The common values (one option, no field named) need no split.
            if name == b"connection" and value.lower() not in _CONNECTION_OPTIONS:
                tokens = {t.strip().lower() for t in value.split(b",")}
                tokens -= _CONNECTION_OPTIONS
                if tokens:
                    connection_named = (connection_named or set()) | tokens
            elif name == b"transfer-encoding":
                out.chunked = True
    out.size = size
    if size > max_bytes:
        raise HeadersTooLarge()
    if connection_named:
        # RFC 9110 section 7.6.1: a proxy must remove every field the
        # Connection header names (it cannot be used to drop identity
        # headers we add later, since those are added after this).
        out.headers = [(n, v) for n, v in keep if n not in connection_named]
    return out
