"""The error hierarchy: stable, unique codes and public-only descriptions."""

from __future__ import annotations

import jwtgate.errors as errors


def _all_error_classes() -> list[type[errors.JwtGateError]]:
    out = [errors.JwtGateError]
    stack = [errors.JwtGateError]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__module__ == "jwtgate.errors":
                out.append(sub)
                stack.append(sub)
    return out


def test_codes_are_unique_snake_case() -> None:
    codes = [cls.code for cls in _all_error_classes()]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert code.replace("_", "").isalnum()
        assert code == code.lower()


def test_every_token_error_is_a_401() -> None:
    for cls in _all_error_classes():
        if issubclass(cls, errors.TokenError):
            assert cls.status == 401, cls


def test_description_defaults_and_detail_stays_private() -> None:
    err = errors.BadSignature(detail="openssl said something internal")
    assert err.description == "the token signature is invalid"
    assert "openssl" not in str(err)
    assert "openssl" not in repr(err)
