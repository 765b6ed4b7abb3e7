"""A known response head gives the lean client exactly what the parser gave.

The same bytes go through the parser (on a connection whose head memo has
not seen them) and through the memo (on a connection whose parser would
refuse to be fed); every attribute a caller reads must agree. Whatever the
memo must not take (other framings, split reads, bytes after the body) is
parsed, and the memo stays bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.gateway import head_memo
from jwtgate.gateway.client import Connection
from jwtgate.gateway.deadlines import Deadlines
from jwtgate.gateway.head_memo import HEADS

_NGINX = (
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sat, 28 Nov 2026 23:00:00 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n"
    b'{"ok":true}'
)
_SHAPES = [
    _NGINX,
    b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"
    b"four",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 304 Not Modified\r\nETag: x\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 4\r\n\r\n\r\n\r\n",
    b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
]
# Never taken from the memo: each needs the parser whatever it saw before.
_PARSED_ONLY = [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nuntil close",
    b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
    _NGINX + b"\r\n",  # bytes after the body, even ones the parser skips
    _NGINX + b"HTTP/1.1 200 OK\r\n",
]


class _Transport:
    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Spy:
    """Counts what reaches the real parser (or refuses it)."""

    def __init__(self, parser: Any, refuse: bool = False) -> None:
        self.parser, self.refuse, self.fed = parser, refuse, 0

    def feed_data(self, data: bytes) -> None:
        assert not self.refuse, "the parser was fed"
        self.fed += 1
        self.parser.feed_data(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parser, name)


@pytest.fixture(autouse=True)
def _empty() -> Iterator[None]:
    HEADS.clear()
    yield
    HEADS.clear()


def _connection(refuse: bool = False) -> tuple[Connection, _Spy]:
    conn = Connection(("h", 1), Deadlines(asyncio.get_running_loop()))
    conn.connection_made(_Transport())  # type: ignore[arg-type]
    spy = _Spy(conn._parser, refuse)
    conn._parser = spy  # type: ignore[assignment]
    return conn, spy


def _state(conn: Connection) -> tuple[Any, ...]:
    return (
        conn.status,
        list(conn.fields),
        conn.length,
        conn.connection,
        conn.keep_alive,
        conn.headers_done,
        conn.complete,
        conn.end_to_end(),
        conn.error,
        conn.take_body(),
        conn._buffered,
    )


async def test_a_known_head_gives_what_the_parser_gave() -> None:
    for data in _SHAPES:
        parsed, _ = _connection()
        parsed.data_received(data)
        known, _ = _connection(refuse=True)
        known.data_received(data)
        assert _state(known) == _state(parsed), data
        assert parsed.complete


@pytest.mark.parametrize("data", _PARSED_ONLY)
async def test_other_framings_and_trailing_bytes_always_go_to_the_parser(data: bytes) -> None:
    for _ in range(2):
        conn, spy = _connection()
        conn.data_received(data)
        assert spy.fed == 1
    assert not HEADS


async def test_a_reused_connection_takes_known_heads_and_parses_the_rest() -> None:
    other = b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\nX-N: 2\r\n\r\ntwo"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-N: 3\r\n\r\n1\r\nc\r\n0\r\n\r\n"
    conn, spy = _connection()
    got = []
    for data in [_NGINX, _NGINX, other, chunked, _NGINX, other]:
        conn.data_received(data)
        got.append((conn.status, conn.take_body(), spy.fed))
        assert conn.reuse()
    assert got == [
        (200, b'{"ok":true}', 1),
        (200, b'{"ok":true}', 1),  # known: not fed
        (201, b"two", 2),
        (200, b"c", 3),
        (200, b'{"ok":true}', 3),  # the parser at its boundary after chunked
        (201, b"two", 3),  # remembered: the first miss after a hit
    ]


async def test_the_first_miss_after_a_hit_is_remembered() -> None:
    # A head that repeats until its Date changes: the new one is taken at once.
    conn, spy = _connection()
    later = _NGINX.replace(b"23:00:00", b"23:00:01")
    got = []
    for data in [_NGINX, _NGINX, later, later, _NGINX, b"HTTP/1.1 204 OK\r\n\r\n", later]:
        conn.data_received(data)
        got.append(spy.fed)
        conn.take_body()
        assert conn.reuse()
    assert got == [1, 1, 2, 2, 3, 4, 5]


async def test_a_connection_remembers_one_miss_in_16() -> None:
    conn, spy = _connection()
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
    assert conn.take_body() == b"x"
    assert conn.reuse()
    HEADS.clear()
    for n in range(1, 17):
        assert not HEADS
        conn.data_received(_NGINX)
        assert spy.fed == 1 + n
        assert conn.take_body() == b'{"ok":true}'
        assert conn.reuse()
    assert len(HEADS) == 1
    conn.data_received(_NGINX)
    assert spy.fed == 17


async def test_split_reads_and_bytes_after_a_body_keep_the_parser() -> None:
    conn, spy = _connection()
    conn.data_received(_NGINX)
    assert conn.take_body()
    assert conn.reuse()
    conn.data_received(_NGINX[:60])
    conn.data_received(_NGINX[60:])
    assert (conn.complete, conn.take_body(), spy.fed) == (True, b'{"ok":true}', 3)
    assert conn.reuse()
    # The start of another message after the body: a response nobody asked
    # for yet. This response stands; the connection is never used again, so
    # those bytes can answer no other request (RFC 9112 section 9.3).
    conn.data_received(_NGINX + b"HTTP/1.1 200 OK\r\n")
    assert (conn.complete, conn.status, conn.error) == (True, 200, None)
    assert conn.take_body() == b'{"ok":true}'
    assert not conn.keep_alive
    assert not conn.reuse()
    assert spy.fed == 4


@pytest.mark.parametrize("status", [200, 204, 304])
async def test_a_message_after_a_complete_response_is_never_parsed_over_it(status: int) -> None:
    # Hypothesis found this shape: a 204 (no body) followed by another status
    # line in the same read used to overwrite the 204's status with that one's.
    length = b"0" if status == 200 else b"5"
    data = b"HTTP/1.1 %d X\r\nContent-Length: %b\r\n\r\n" % (status, length)
    conn, _ = _connection()
    conn.data_received(data + b"HTTP/1.0 000\r\n\r\n")
    assert (conn.complete, conn.status, conn.error) == (True, status, None)
    assert not conn.reuse()


async def test_a_changed_head_is_parsed_and_replaces_the_old() -> None:
    changed = _NGINX.replace(b"23:00:00", b"23:00:01").replace(b"true", b"nope")
    first, _ = _connection()
    first.data_received(_NGINX)
    second, spy = _connection()
    second.data_received(changed)
    assert spy.fed == 1
    assert second.take_body() == b'{"ok":nope}'
    assert [head for head, *_ in HEADS.values()] == [changed[: changed.index(b"\r\n\r\n") + 4]]
    third, spy = _connection()
    third.data_received(_NGINX)
    assert spy.fed == 1
    assert third.take_body() == b'{"ok":true}'


async def test_fields_handed_out_are_the_callers_own() -> None:
    first, _ = _connection()
    first.data_received(_NGINX)
    second, _ = _connection(refuse=True)
    second.data_received(_NGINX)
    expected = list(second.fields)
    second.fields += (b"x-added", b": ", b"1", b"\r\n")
    third, _ = _connection(refuse=True)
    third.data_received(_NGINX)
    assert third.fields == expected


async def test_the_memo_is_bounded() -> None:
    for n in range(300):
        conn, _ = _connection()
        conn.data_received(_NGINX.replace(b"Server: nginx", b"X-Pad: " + b"p" * n))
        assert len(HEADS) <= head_memo._ENTRIES
    HEADS.clear()
    big_head = _NGINX.replace(b"Server: nginx", b"X-Big: " + b"a" * head_memo._HEAD_BYTES)
    big_body = b"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + b"b" * 70000
    for data in (big_head, big_body):
        conn, _ = _connection()
        conn.data_received(data)
        assert conn.complete
    assert not HEADS


_name = st.sampled_from([b"X-A", b"set-cookie", b"Connection", b"Keep-Alive", b"Vary", b"Date"])
_value = st.sampled_from([b"1", b"keep-alive", b"close", b"x-a", b"a b", b""])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_name, _value), max_size=6),
    st.sampled_from([b"1.1", b"1.0"]),
    st.sampled_from([200, 204, 304, 404, 500]),
    st.binary(max_size=40),
)
def test_any_response_the_memo_takes_matches_the_parser(
    headers: list[tuple[bytes, bytes]], version: bytes, status: int, body: bytes
) -> None:
    head = b"HTTP/%b %d X\r\n" % (version, status) + b"".join(b"%b: %b\r\n" % h for h in headers)
    data = head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    async def both() -> None:
        HEADS.clear()
        parsed, _ = _connection()
        parsed.data_received(data)
        if len(data) in HEADS:
            known, _ = _connection(refuse=True)
            known.data_received(data)
            assert _state(known) == _state(parsed)
        else:
            assert not parsed.complete or parsed.status in (204, 304) or parsed.error

    asyncio.run(both())
