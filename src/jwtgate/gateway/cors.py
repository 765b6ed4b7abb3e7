"""CORS (Fetch standard, section 3.2) for routes that enable it.

Preflights are answered by the gateway without authentication (browsers
never send credentials on them); actual responses get the allow headers
only for an allowed ``Origin``, and ``Vary: Origin`` so caches keep them
apart. An origin is echoed only when listed, never reflected blindly.
"""

from __future__ import annotations

from jwtgate.gateway.compile import CompiledCors

__all__ = ["cors_headers", "preflight_headers"]


def _allowed(cors: CompiledCors, origin: bytes) -> bool:
    return cors.any_origin or origin.decode("latin-1") in cors.origins


def cors_headers(cors: CompiledCors, origin: bytes | None) -> list[tuple[bytes, bytes]]:
    """Headers to add to an actual (non-preflight) response."""
    if origin is None or not _allowed(cors, origin):
        return [(b"vary", b"Origin")]
    value = b"*" if cors.any_origin and not cors.allow_credentials else origin
    out = [(b"access-control-allow-origin", value), (b"vary", b"Origin")]
    if cors.allow_credentials:
        out.append((b"access-control-allow-credentials", b"true"))
    return out


def preflight_headers(cors: CompiledCors, origin: bytes) -> list[tuple[bytes, bytes]]:
    """Headers of the 204 answer to a preflight ``OPTIONS``."""
    out = cors_headers(cors, origin)
    if _allowed(cors, origin):
        out += [
            (b"access-control-allow-methods", cors.allow_methods),
            (b"access-control-allow-headers", cors.allow_headers),
            (b"access-control-max-age", cors.max_age),
        ]
    out.append((b"content-length", b"0"))
    return out
