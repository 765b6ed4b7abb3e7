"""Stage 5: authorize a verified token against the route's requirements.

Roles and scopes are sets checked with ``any_of`` / ``all_of``; claims must
be equal in value *and* JSON type (``true`` never equals ``1``, ``"1"``
never equals ``1``). A failure is RFC 6750 ``insufficient_scope`` (403) with
the scopes the route needs in ``scope=`` (section 3.1); the finer reason
(``insufficient_scope``, ``insufficient_role``, ``claim_mismatch``) goes to
logs and metrics only.
"""

from __future__ import annotations

from jwtgate.gateway.compile import CompiledRoute
from jwtgate.gateway.errors import InsufficientScope
from jwtgate.jose import VerifiedToken

__all__ = ["authorize"]


def _same(actual: object, expected: str | int | bool) -> bool:
    # bool is a subclass of int in Python; compare exact JSON types.
    return type(actual) is type(expected) and actual == expected


def authorize(route: CompiledRoute, token: VerifiedToken) -> None:
    """Raise :class:`InsufficientScope` unless ``token`` meets every requirement of ``route``."""
    # any_of: at least one in common; all_of: every one held. None: no rule.
    any_of, all_of = route.scopes_any, route.scopes_all
    if (any_of is not None and token.scopes.isdisjoint(any_of)) or (
        all_of is not None and not all_of <= token.scopes
    ):
        raise InsufficientScope("insufficient_scope", route.needed_scope)
    any_of, all_of = route.roles_any, route.roles_all
    if (any_of is not None and token.roles.isdisjoint(any_of)) or (
        all_of is not None and not all_of <= token.roles
    ):
        raise InsufficientScope(
            "insufficient_role", route.needed_scope, "the access token lacks a required role"
        )
    if route.claims:
        claims = token.claims
        for name, expected in route.claims:
            if not _same(claims.get(name), expected):
                raise InsufficientScope(
                    "claim_mismatch", route.needed_scope, "the access token lacks a required claim"
                )
