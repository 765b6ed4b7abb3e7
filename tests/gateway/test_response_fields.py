"""The lean client's serialised response fields say what the pairs used to say.

:class:`Connection` keeps the upstream's end-to-end fields serialised for the
server (name, ``: ``, value, CRLF) and :meth:`Cycle.respond` writes them as
they are; both must give exactly the bytes the ``(name, value)`` pairs gave.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.gateway.client import Connection, pairs
from jwtgate.gateway.deadlines import Deadlines
from jwtgate.gateway.h1cycle import Cycle
from jwtgate.gateway.headers import HOP_BY_HOP
from jwtgate.gateway.upstream_headers import response_headers

_NAMES = [
    b"Content-Type",
    b"content-length",
    b"Set-Cookie",
    b"DATE",
    b"Connection",
    b"Keep-Alive",
    b"Transfer-Encoding",
    b"TE",
    b"Upgrade",
    b"Proxy-Authenticate",
    b"X-Gone",
    b"x-kept",
    b"Vary",
]
_VALUES = [b"1", b"keep-alive", b"close", b"Keep-Alive", b"x-gone, Vary", b"a=1; Path=/", b""]
_HOP_AND_DATE = HOP_BY_HOP | {b"date"}
_header = st.tuples(st.sampled_from(_NAMES), st.sampled_from(_VALUES))


async def _parse(raw: bytes) -> Connection:
    conn = Connection(("h", 1), Deadlines(asyncio.get_running_loop()))
    conn.data_received(raw)
    return conn


@settings(max_examples=300, deadline=None)
@given(st.lists(_header, max_size=8), st.sampled_from([200, 204, 304, 404]))
def test_fields_are_the_end_to_end_pairs(headers: list[tuple[bytes, bytes]], status: int) -> None:
    # One Content-Length (llhttp refuses two), none with chunked coding.
    names = [n.lower() for n, _ in headers]
    if names.count(b"content-length") > 1 or (
        b"content-length" in names and b"transfer-encoding" in names
    ):
        return
    headers = [(n, b"0" if n.lower() == b"content-length" else v) for n, v in headers]
    headers = [(n, b"chunked" if n.lower() == b"transfer-encoding" else v) for n, v in headers]
    raw = b"HTTP/1.1 %d X\r\n" % status + b"".join(b"%b: %b\r\n" % h for h in headers)
    conn = asyncio.run(_parse(raw + b"\r\n"))
    assert conn.error is None
    assert conn.headers_done
    kept = [(n.lower(), v) for n, v in headers if n.lower() not in _HOP_AND_DATE]
    assert pairs(conn.fields) == kept
    assert conn.end_to_end() == response_headers(headers)
    lengths = [v for n, v in headers if n.lower() == b"content-length"]
    assert conn.length == (lengths[-1] if lengths else None)


def _cycle(method: str, version: str, keep_alive: bool) -> tuple[Cycle, list[bytes]]:
    written: list[bytes] = []
    transport = SimpleNamespace(write=written.append, writelines=written.extend)
    state = SimpleNamespace(default_head=b"date: D\r\n", default_lines=1)
    conn: Any = SimpleNamespace(write_waiter=None, transport=transport, state=state)
    conn.close = lambda: written.append(b"<close>")
    scope = {"method": method, "http_version": version}
    cycle = Cycle(conn, scope, keep_alive, expect=False)
    cycle.body_done = True
    return cycle, written


_field = st.tuples(
    st.sampled_from([b"content-type", b"set-cookie", b"x-a", b"vary"]),
    st.sampled_from([b"1", b"a=1; Path=/", b"", b"text/plain"]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_field, max_size=6),
    st.sampled_from([100, 200, 204, 299, 304, 404, 503]),
    st.binary(max_size=20),
    st.booleans(),
    st.integers(min_value=0, max_value=6),
    st.sampled_from(["GET", "HEAD"]),
    st.sampled_from(["1.1", "1.0"]),
    st.booleans(),
)
def test_serialised_fields_write_what_pairs_write(
    headers: list[tuple[bytes, bytes]],
    status: int,
    body: bytes,
    with_length: bool,
    at: int,
    method: str,
    version: str,
    keep_alive: bool,
) -> None:
    length = None
    if with_length:
        length = b"%d" % len(body)
        headers.insert(min(at, len(headers)), (b"content-length", length))
    by_pairs, want = _cycle(method, version, keep_alive)
    assert by_pairs.respond(status, list(headers), body)
    by_fields, got = _cycle(method, version, keep_alive)
    fields = [part for n, v in headers for part in (n, b": ", v, b"\r\n")]
    assert by_fields.respond(status, fields, body, length, True)
    assert got == want
    assert by_fields.keep_alive == by_pairs.keep_alive


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([b"\r", b"\n", b"\0", b"\r\n ", b"\r\nx-injected: 1\r"]),
    st.booleans(),
    st.sampled_from([b"", b"a"]),
)
def test_the_parser_refuses_fields_that_could_split_a_response(
    bad: bytes, in_name: bool, around: bytes
) -> None:
    # Cycle.respond writes the lean client's fields without counting their
    # CR and LF: that relies on llhttp refusing them here (strict mode).
    field = b"x%b: v" % (around + bad) if in_name else b"x: %bv%b" % (bad, around)
    conn = asyncio.run(_parse(b"HTTP/1.1 200 OK\r\n%b\r\ncontent-length: 0\r\n\r\n" % field))
    assert conn.error is not None
    assert not conn.complete
