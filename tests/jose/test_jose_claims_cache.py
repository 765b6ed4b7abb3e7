"""The claim checks' caches and key lookups never change an answer."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.errors import InvalidClaim
from jwtgate.jose import IssuerPolicy, StaticKeySource
from jwtgate.jose._codec import orjson_keys, parse_json_object
from jwtgate.jose.claims import _roles_cache, validate_claims

from .conftest import AUDIENCE, ISSUER, NOW, claims

_POLICY = IssuerPolicy(ISSUER, frozenset({AUDIENCE}), frozenset({"ES256"}), StaticKeySource())
_HEADER = {"typ": "at+jwt", "alg": "ES256", "kid": "k"}


def _roles_of(value: Any) -> frozenset[str] | str:
    raw = json.dumps(claims(roles=value)).encode()
    try:
        token = validate_claims(
            _POLICY, parse_json_object(raw), float(NOW), _HEADER, "ES256", "k", "at+jwt"
        )
    except InvalidClaim:
        return "invalid"
    return token.roles


def _reference(value: list[Any]) -> frozenset[str] | str:
    return frozenset(value) if all(type(r) is str for r in value) else "invalid"


_items = st.one_of(
    st.sampled_from(["admin", "1", "", "true", "a b"]),
    st.sampled_from([1, 1.0, True, False, None, 0]),
    st.lists(st.sampled_from(["admin", 1]), max_size=2),
    st.dictionaries(st.sampled_from(["admin"]), st.integers(0, 1), max_size=1),
)


@settings(max_examples=300, deadline=None)
@given(lists=st.lists(st.lists(_items, max_size=4), min_size=1, max_size=6))
def test_roles_cache_matches_the_plain_check(lists: list[list[Any]]) -> None:
    # Each list twice: the second answer may come from the cache.
    for value in lists + lists:
        assert _roles_of(value) == _reference(value)


def test_roles_equal_to_strings_but_not_strings_are_refused() -> None:
    _roles_cache.clear()
    assert _roles_of(["1"]) == frozenset({"1"})
    assert _roles_of([1]) == "invalid"  # 1 != "1": never served from the cache
    assert _roles_of([True]) == "invalid"


def test_the_roles_cache_is_bounded() -> None:
    for i in range(2000):
        _roles_of([f"role-{i}"])
    assert len(_roles_cache) <= 512


def test_claim_names_are_orjson_key_objects() -> None:
    # A speed property only (a lookup by value finds the same member): the
    # names the claim checks use are the objects orjson puts in its dicts.
    (iss,) = orjson_keys("iss")
    parsed = orjson.loads(b'{"iss":"x","sub":"y"}')
    assert iss == "iss"
    assert any(k is iss for k in parsed)
