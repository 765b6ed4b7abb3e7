"""The request head the lean client writes: one join, whatever the method, base and end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.gateway.upstream_headers import request_head

_METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PURGE"])
_ENDS = st.sampled_from([b"", b"\r\n", b"content-length: 0\r\n\r\n"])
_FIELDS = st.lists(
    st.tuples(st.sampled_from([b"x-a", b"expect", b"accept"]), st.sampled_from([b"", b"1"])),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(_METHODS, st.sampled_from([b"", b"/base"]), _ENDS, _FIELDS)
def test_base_and_end_are_joined_as_concatenation_would(
    method: str, base: bytes, end: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    whole = request_head(method, b"/p?q", b"up:80", headers, end, base)
    assert whole == request_head(method, base + b"/p?q", b"up:80", headers) + end
    assert whole.startswith(method.encode("ascii") + b" " + base + b"/p?q HTTP/1.1\r\n")
