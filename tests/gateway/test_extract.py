"""The last-answered token of ``extract`` gives what the checks give.

A request whose ``Authorization`` value equals the previous one's is
answered from that value's entry; any other value (a different token, a
prefix or extension of the last one, another scheme, a malformed one) must
be checked as before.
"""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.config import load_config_text
from jwtgate.errors import JwtGateError
from jwtgate.gateway import extract as module
from jwtgate.gateway.compile import compile_gateway
from jwtgate.gateway.extract import _from_header, extract
from jwtgate.gateway.headers import InboundHeaders

_ROUTE = compile_gateway(
    load_config_text("gateway: {routes: [{name: r, match: {prefix: /}, upstream: 'http://h'}]}")
).routes[0]

_VALUES = st.sampled_from(
    [b"Bearer abc", b"Bearer abc=", b"Bearer ab", b"Bearer abcd", b"bearer abc",
     b"Bearer  abc", b"Bearer a bc", b"Basic abc", b"Bearer", b"Bearer abc.d-e_f~g+h/i=="]
)  # fmt: skip


def _checked(value: bytes) -> object:
    with contextlib.suppress(JwtGateError):
        return _from_header([value])
    return "refused"


def _extracted(value: bytes) -> object:
    inbound = InboundHeaders()
    inbound.authorization = [bytes(bytearray(value))]  # a new object, as from the parser
    with contextlib.suppress(JwtGateError):
        ext = extract(_ROUTE, inbound, b"")
        return ext.token
    return "refused"


@settings(max_examples=300, deadline=None)
@given(st.lists(_VALUES, min_size=1, max_size=12))
def test_each_value_extracts_as_checked_whatever_came_before(values: list[bytes]) -> None:
    for value in values:
        assert _extracted(value) == _checked(value)


def test_a_repeated_value_is_answered_from_the_last_entry() -> None:
    assert _extracted(b"Bearer repeated") == "repeated"
    last = module._last
    assert last is not None
    assert last[0] == b"Bearer repeated"
    module._TOKENS.clear()  # not consulted for the value answered last
    assert _extracted(b"Bearer repeated") == "repeated"
    assert b"Bearer repeated" not in module._TOKENS


def test_a_refused_value_never_becomes_the_last_entry() -> None:
    assert _extracted(b"Bearer kept") == "kept"
    assert _extracted(b"Bearer a b") == "refused"
    last = module._last
    assert last is not None
    assert last[0] == b"Bearer kept"
