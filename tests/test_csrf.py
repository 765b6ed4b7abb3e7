"""Cookie names and the CSRF double-submit binding (OWASP CSRF cheat sheet)."""

from __future__ import annotations

import pytest

from jwtgate.csrf import cookie_names, csrf_claim_for, csrf_matches, new_csrf_token


def test_secure_cookie_names_use_host_prefix() -> None:
    names = cookie_names(secure=True)
    assert names.access.startswith("__Host-")
    assert names.refresh.startswith("__Host-")
    assert names.csrf.startswith("__Host-")


def test_relaxed_cookie_names_drop_the_prefix() -> None:
    # RFC 6265bis 4.1.3.2: browsers refuse __Host- cookies without Secure.
    names = cookie_names(secure=False)
    assert not any(n.startswith("__Host-") for n in (names.access, names.refresh, names.csrf))


def test_token_is_bound_to_its_claim() -> None:
    token = new_csrf_token()
    assert len(token) >= 43
    assert csrf_matches(csrf_claim_for(token), token)


@pytest.mark.parametrize(
    ("claim", "presented"),
    [
        ("claim-of-another-token", "x"),
        (None, "x"),
        (123, "x"),
        ("", ""),
        ("abc", None),
        ("abc", "\ud800"),
        ("abc", "a" * 300),
    ],
)
def test_mismatches_are_refused(claim: object, presented: str | None) -> None:
    assert not csrf_matches(claim, presented)


def test_one_sessions_token_does_not_unlock_another() -> None:
    a, b = new_csrf_token(), new_csrf_token()
    assert a != b
    assert not csrf_matches(csrf_claim_for(a), b)
