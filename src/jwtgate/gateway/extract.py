"""Stage 2: find the access token (RFC 6750 section 2).

``Authorization: Bearer`` is always read: scheme case-insensitive, exactly one
header, exactly one token of ``b64token`` syntax (section 2.1). A cookie and
a query parameter are read only when the route enables them; the query
parameter is then removed before forwarding. Sending the token in more than
one place is ``invalid_request`` (section 2: clients MUST NOT do that).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import unquote_to_bytes

from jwtgate.gateway.compile import CompiledRoute
from jwtgate.gateway.errors import InvalidRequest
from jwtgate.gateway.headers import InboundHeaders

__all__ = ["Extracted", "extract"]

# RFC 6750 section 2.1: credentials = "Bearer" 1*SP b64token
_BEARER = re.compile(rb"([Bb][Ee][Aa][Rr][Ee][Rr]) +([A-Za-z0-9\-._~+/]+=*)")
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# The b64token characters before the "=" padding; deleting them from a
# well-formed token leaves nothing (a C loop, unlike the regex engine's).
_B64CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"


Source = Literal["header", "cookie", "query"]


class Extracted:
    """The token (if any), where it came from, and what to forward instead.

    A plain slotted class: built on every request, where a frozen
    dataclass's ``__init__`` costs several times more. Never modified once
    built: one instance may answer many requests (``_TOKENS``).
    """

    __slots__ = ("cookie", "query_string", "source", "token")

    def __init__(
        self,
        token: str | None,
        source: Source | None,
        query_string: bytes,
        cookie: bytes | None,
    ) -> None:
        self.token = token
        self.source = source
        self.query_string = query_string
        self.cookie = cookie

    def __repr__(self) -> str:
        return f"Extracted(source={self.source!r}, token={'***' if self.token else None})"


# Authorization values already found to be ``Bearer <b64token>``, and what
# a request with that header alone (no query, no cookie) extracts. A client
# sends the same token on every request; checking its syntax again (a pass
# over ~500 bytes) and decoding it costs more than this lookup, and the token
# string handed out again keeps its cached hash for the verifier's cache. A
# pure function of the value; a full table is emptied, so a flood of distinct
# tokens cannot grow it. Values longer than _TOKENS_VALUE_MAX are checked
# every time, so the table stays below about 5 MiB (value and token string
# per entry) whatever the header size limit allows.
_TOKENS: dict[bytes, Extracted] = {}
_TOKENS_MAX = 1024
_TOKENS_VALUE_MAX = 2048
# The entry of _TOKENS answered last. The parser makes a new bytes object for
# every request, so a dict lookup hashes the whole value (~500 bytes) again;
# comparing it with the last value is one memcmp, and consecutive requests
# of a worker mostly carry the same token (one client, or a few services).
_last: tuple[bytes, Extracted] | None = None


def _bearer_token(value: bytes) -> bytes | None:
    """The token of ``Bearer <b64token>`` (scheme case-insensitive), else None.

    Same language as ``_BEARER.fullmatch``: the common shape (one space, no
    stray bytes) is checked with C byte operations, anything else by the regex.
    """
    if value[6:7] == b" " and value[7:8] != b" ":
        token = value[7:]
        body = token.rstrip(b"=")
        if body and not body.translate(None, _B64CHARS) and value[:6].lower() == b"bearer":
            return token
    match = _BEARER.fullmatch(value)
    return match.group(2) if match is not None else None


def _from_header(values: list[bytes]) -> str | None:
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest("more than one Authorization header")
    value = values[0]
    if value[:7].lower() != b"bearer ":
        if value.strip().lower() == b"bearer":
            raise InvalidRequest("the Bearer credentials are empty")
        return None  # another scheme: not ours, treated as no bearer token
    token = _bearer_token(value)
    if token is None:
        raise InvalidRequest("the Authorization header must carry exactly one bearer token")
    return token.decode("ascii")


def _from_cookie(header: bytes | None, name: str) -> tuple[str | None, bytes | None]:
    """The named cookie's value, and the Cookie header without it."""
    if header is None:
        return None, None
    wanted = name.encode("latin-1")
    found: list[bytes] = []
    rest: list[bytes] = []
    for part in header.split(b";"):
        pair = part.strip()
        key, _, value = pair.partition(b"=")
        if key.strip() == wanted:
            found.append(value.strip().strip(b'"'))
        elif pair:
            rest.append(pair)
    if not found:
        return None, header
    if len(found) > 1:
        # Two cookies of the same name are the signature of cookie tossing
        # from a sibling domain (RFC 6265bis section 8.6); refuse to guess.
        raise InvalidRequest("the access cookie is present more than once")
    token = found[0].decode("latin-1")
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequest("the access cookie is malformed")
    return token, (b"; ".join(rest) or None)


def _from_query(query: bytes, name: str) -> tuple[str | None, bytes]:
    if not query:
        return None, query
    wanted = name.encode("latin-1")
    found: list[bytes] = []
    rest: list[bytes] = []
    for part in query.split(b"&"):
        key, _, value = part.partition(b"=")
        if b"%" in key or b"+" in key:
            # The upstream decodes ``access%5Ftoken`` to the token parameter
            # (WHATWG URL application/x-www-form-urlencoded parsing): it must
            # be found, counted and removed here under every spelling.
            key = unquote_to_bytes(key.replace(b"+", b" "))
        if key == wanted:
            found.append(value)
        elif part:
            rest.append(part)
    if not found:
        return None, query
    if len(found) > 1:
        raise InvalidRequest("the token query parameter is present more than once")
    token = found[0].decode("latin-1").replace("%3D", "=").replace("%3d", "=")
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequest("the token query parameter is malformed")
    return token, b"&".join(rest)


def extract(route: CompiledRoute, inbound: InboundHeaders, query: bytes) -> Extracted:
    """Find the one token of this request under ``route``'s token sources.

    Raises :class:`InvalidRequest` for duplicated or malformed credentials.
    """
    values = inbound.authorization
    if len(values) == 1 and route.cookie is None and route.query_param is None:
        # The common request: one ``Bearer <b64token>`` with one space and
        # no stray bytes, on a header-only route. The same checks as
        # _from_header and _bearer_token, without their calls; any other
        # shape takes the general path below.
        global _last
        value = values[0]
        last = _last
        if last is not None and value == last[0]:
            known: Extracted | None = last[1]
        else:
            known = _TOKENS.get(value)
            if known is None and value[6:7] == b" " and value[:6].lower() == b"bearer":
                body = value[7:].rstrip(b"=")  # (a second space is not b64)
                if body and not body.translate(None, _B64CHARS):
                    known = Extracted(value[7:].decode("ascii"), "header", b"", None)
                    if len(value) <= _TOKENS_VALUE_MAX:
                        if len(_TOKENS) >= _TOKENS_MAX:
                            _TOKENS.clear()
                        _TOKENS[value] = known
                        _last = (value, known)
            elif known is not None:
                _last = (value, known)
        if known is not None:
            if query or inbound.cookie is not None:
                return Extracted(known.token, "header", query, inbound.cookie)
            return known
    token = _from_header(values)
    source: Source | None = "header" if token is not None else None
    cookie = inbound.cookie
    if route.cookie is not None:
        from_cookie, without = _from_cookie(cookie, route.cookie)
        if from_cookie is not None:
            if token is not None:
                raise InvalidRequest("send the token in one place only")
            token, source = from_cookie, "cookie"
            if not route.forward_token:
                cookie = without
    if route.query_param is not None:
        from_query, query = _from_query(query, route.query_param)
        if from_query is not None:
            if token is not None:
                raise InvalidRequest("send the token in one place only")
            token, source = from_query, "query"
    return Extracted(token, source, query, cookie)
