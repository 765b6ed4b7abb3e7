"""``respond`` with the lean client's serialised fields writes what their pairs write.

The proxied common case (a complete body framed by the upstream's
Content-Length, a keep-alive HTTP/1.1 request) skips the general framing
code; whatever the status, method, version or lengths, the bytes and the
cycle's state afterwards must be those of the general path.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.gateway.client import pairs
from jwtgate.gateway.h1cycle import Cycle


class _Transport:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def writelines(self, data: Any) -> None:
        self.out.extend(data)

    def close(self) -> None:
        self.closed = True


class _State:
    default_head = b"date: Thu, 01 Jan 1970 00:00:00 GMT\r\nserver: g\r\n"
    default_lines = 2


class _Conn:
    def __init__(self) -> None:
        self.transport = _Transport()
        self.state = _State()
        self.write_waiter = None
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _run(
    fields: bool,
    status: int,
    names: list[bytes],
    body: bytes,
    length: bytes | None,
    scope: dict[str, Any],
    keep_alive: bool,
    body_done: bool,
) -> tuple[bytes, bool, bool, bool, bool]:
    conn = _Conn()
    cycle = Cycle(conn, scope, keep_alive, False)  # type: ignore[arg-type]
    cycle.body_done = body_done
    serialised: list[bytes] = []
    for i, name in enumerate(names):
        serialised += (name, b": ", b"v%d" % i, b"\r\n")
    if length is not None:
        serialised += (b"content-length", b": ", length, b"\r\n")
    if fields:
        assert cycle.respond(status, serialised, body, length, True)
    else:
        assert cycle.respond(status, pairs(serialised), body)
    written = b"".join(conn.transport.out)
    return written, cycle.keep_alive, cycle.response_done, conn.closed, cycle.started


@settings(max_examples=400)
@given(
    status=st.sampled_from([100, 200, 200, 201, 204, 304, 404, 599]),
    names=st.lists(st.sampled_from([b"content-type", b"x-a", b"set-cookie", b"etag"]), max_size=4),
    body=st.sampled_from([b"", b"x", b'{"ok":true}', b"y" * 20_000]),
    length=st.sampled_from(["body", "body", "none", "other", "padded"]),
    method=st.sampled_from(["GET", "GET", "HEAD", "POST"]),
    version=st.sampled_from(["1.0", "1.1", "1.1"]),
    keep_alive=st.sampled_from([True, True, False]),
    body_done=st.sampled_from([True, True, False]),
)
def test_fields_write_what_pairs_write(
    status: int,
    names: list[bytes],
    body: bytes,
    length: str,
    method: str,
    version: str,
    keep_alive: bool,
    body_done: bool,
) -> None:
    scope = {"method": method, "http_version": version}
    decimal = b"%d" % len(body)
    value = {"body": decimal, "none": None, "other": b"5", "padded": b"0" + decimal}[length]
    args = (status, names, body, value, scope, keep_alive, body_done)
    assert _run(True, *args) == _run(False, *args)
