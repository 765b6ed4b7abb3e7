"""Stage 7a: the headers an upstream receives.

Identity comes only from verified claims (inbound look-alikes were stripped
in stage 1). Values are made safe for a header (RFC 9110 section 5.5): a
claim holding CR, LF, NUL or another control character would let a token
issuer's user-chosen value split or forge headers, so such a request is
refused rather than "cleaned" (cleaning can turn ``"a\\nb"`` into a different
user's ``"ab"``). Arrays are joined with commas, refusing elements that
contain a comma (``["admin,user"]`` must not read as two roles); objects and
nested arrays are sent as compact JSON.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence

from jwtgate.gateway.compile import CompiledRoute, Network
from jwtgate.gateway.errors import UnsafeClaim
from jwtgate.jose import VerifiedToken

__all__ = ["client_address", "identity_headers", "request_id"]

_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_OWS = (" ", "\t")
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def _text(value: str) -> str:
    # RFC 9110 section 5.5: a recipient trims leading and trailing whitespace
    # from a field value, so " admin" would reach the upstream as "admin".
    if _UNSAFE.search(value) or value[:1] in _OWS or value[-1:] in _OWS:
        raise UnsafeClaim()
    return value


def _render(value: object, *, claim: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        if claim == "scope":
            # RFC 9068 section 2.2.3: space-separated; forwarded comma-separated.
            return _text(",".join(value.split()))
        return _text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        for item in value:
            # RFC 9110 section 5.6.1: list members are split on commas and
            # trimmed, so ["admin,user"] or [" admin"] would read as other roles.
            if "," in item or item[:1] in _OWS or item[-1:] in _OWS:
                raise UnsafeClaim()
        return _text(",".join(value))
    # Objects and mixed/nested arrays: compact JSON, ASCII-only, so nothing
    # in them can be a control character on the wire.
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def identity_headers(route: CompiledRoute, token: VerifiedToken) -> list[tuple[bytes, bytes]]:
    """The route's claim-to-header map applied to ``token``; raises :class:`UnsafeClaim`."""
    out: list[tuple[bytes, bytes]] = []
    claims = token.claims
    for claim, header in route.forward:
        rendered = _render(claims.get(claim), claim=claim)
        if rendered is not None:
            out.append((header, rendered.encode("utf-8")))
    return out


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(addr: str, networks: Sequence[Network]) -> bool:
    ip = _ip(addr)
    return ip is not None and any(ip in net for net in networks)


def client_address(
    peer: str | None, xff: bytes | None, trusted: Sequence[Network]
) -> tuple[str, bytes]:
    """The client's address and the ``X-Forwarded-For`` value to send upstream.

    ``X-Forwarded-For`` is believed only from a trusted proxy, and then only
    up to the rightmost address that is not itself a trusted proxy: anything
    left of that was written by the client and can be forged.
    """
    peer = peer or "unknown"
    if not trusted or xff is None or not _trusted(peer, trusted):
        return peer, peer.encode("ascii", "replace")
    chain = [p.strip() for p in xff.decode("latin-1").split(",") if p.strip()]
    client = peer
    for hop in reversed(chain):
        if _ip(hop) is None:
            break
        client = hop
        if not _trusted(hop, trusted):
            break
    forwarded = ", ".join([*chain, peer])
    return client, forwarded.encode("latin-1")


def request_id(inbound: bytes | None, from_trusted_proxy: bool, fresh: str | bytes) -> bytes:
    """Keep a trusted proxy's well-formed ``X-Request-Id``, otherwise use ``fresh``."""
    if inbound is not None and from_trusted_proxy and _REQUEST_ID.fullmatch(inbound):
        return inbound
    return fresh if isinstance(fresh, bytes) else fresh.encode("ascii")
