"""The sanitiser's name table classifies every field as the set tests did.

``sanitize`` looks each field name up in one table (the fixed sets, the
configured strip set, and names classified since). The reference below is
the classification it replaced, a set lookup per category, a prefix test and
the underscore-alias check on every field; the two must agree on every
input, whatever the table already holds.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.gateway import headers
from jwtgate.gateway.compile import ALWAYS_STRIPPED_PREFIXES
from jwtgate.gateway.headers import (
    _CONNECTION_OPTIONS,
    _KINDS_MAX,
    _TAKEN,
    HOP_BY_HOP,
    _take,
    _underscore_alias,
    sanitize,
)

_STRIPPABLE = [b"x-tenant", b"x-roles", b"x-email", b"x-trace-id", b"authorization", b"te"]


def _reference(
    raw: list[tuple[bytes, bytes]], strip: frozenset[bytes], max_bytes: int
) -> headers.InboundHeaders:
    """The classification by set lookups, prefix test and alias check per field."""
    out = headers.InboundHeaders()
    keep = out.headers
    connection_named: set[bytes] | None = None
    size = 0
    for name, value in raw:
        size += len(name) + len(value) + 4
        if name in _TAKEN:
            _take(out, name, value)
        elif name in HOP_BY_HOP:
            if name == b"connection" and value.lower() not in _CONNECTION_OPTIONS:
                tokens = {t.strip().lower() for t in value.split(b",")} - _CONNECTION_OPTIONS
                if tokens:
                    connection_named = (connection_named or set()) | tokens
            elif name == b"transfer-encoding":
                out.chunked = True
        elif (
            name in strip
            or name.startswith(ALWAYS_STRIPPED_PREFIXES)
            or (b"_" in name and _underscore_alias(name, strip))
        ):
            continue
        else:
            keep.append((name, value))
    out.size = size
    if size > max_bytes:
        raise headers.HeadersTooLarge()
    if connection_named:
        out.headers = [(n, v) for n, v in keep if n not in connection_named]
    return out


def _run(raw: list[tuple[bytes, bytes]], strip: frozenset[bytes], fn: Any) -> Any:
    try:
        out = fn(raw, strip, 2000)
    except Exception as exc:  # the refusal itself is compared
        return type(exc), str(exc)
    return {slot: getattr(out, slot) for slot in headers.InboundHeaders.__slots__}


_known = sorted(_TAKEN | HOP_BY_HOP) + _STRIPPABLE + [p + b"id" for p in ALWAYS_STRIPPED_PREFIXES]
_names = st.one_of(
    st.sampled_from(_known),
    st.sampled_from(_known).map(lambda n: n.replace(b"-", b"_")),
    st.sampled_from([b"accept", b"user-agent", b"x_custom", b"x-user_id", b"a_b"]),
    st.binary(min_size=1, max_size=12).map(bytes.lower),
)
_values = st.one_of(
    st.sampled_from([b"close", b"keep-alive", b"x-tenant, te", b"Accept", b"5", b"-1", b"x"]),
    st.binary(max_size=20),
)
_strips = st.frozensets(st.sampled_from(_STRIPPABLE), max_size=3)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_names, _values), max_size=8), _strips)
def test_sanitize_agrees_with_the_set_lookups(
    raw: list[tuple[bytes, bytes]], strip: frozenset[bytes]
) -> None:
    expected = _run(raw, strip, _reference)
    assert _run(raw, strip, sanitize) == expected
    # Again, now that the table holds every name of the request.
    assert _run(raw, strip, sanitize) == expected


def test_sanitize_follows_a_new_strip_set() -> None:
    raw = [(b"x-tenant", b"a"), (b"x_tenant", b"b"), (b"x-other", b"c")]
    assert sanitize(raw, frozenset(), 2000).headers == raw
    kept = sanitize(raw, frozenset({b"x-tenant"}), 2000).headers
    assert kept == [(b"x-other", b"c")]
    assert sanitize(raw, frozenset(), 2000).headers == raw


def test_the_name_table_stays_bounded() -> None:
    strip = frozenset({b"x-tenant"})
    for i in range(3 * _KINDS_MAX):
        name = b"x-made-up-%d" % i
        assert sanitize([(name, b"v")], strip, 2000).headers == [(name, b"v")]
    table = headers._kinds
    assert table is not None
    assert table[0] is strip
    assert len(table[1]) <= _KINDS_MAX + len(strip) + 1
    # Long names are classified every time, never kept.
    long_name = b"x-" + b"a" * 100
    sanitize([(long_name, b"v")], strip, 2000)
    assert long_name not in table[1]
    # The fixed categories survive the table's rebuilds.
    out = sanitize([(b"x_tenant", b"v"), (b"host", b"h"), (b"te", b"t")], strip, 2000)
    assert out.headers == []
    assert out.host == b"h"
