"""The baseline: a JWT gateway the way many write it first (FastAPI + PyJWT + httpx).

Run by ``benchmarks/gateway.py`` under uvicorn with the same number of
workers as jwtgate, configured through the environment:

* ``NAIVE_UPSTREAM`` - base URL to forward to, e.g. ``http://127.0.0.1:9000``;
* ``NAIVE_JWKS`` - path of a JWKS file with the issuer's public keys;
* ``NAIVE_ISSUER`` / ``NAIVE_AUDIENCE`` - expected ``iss`` and ``aud``.

It is deliberately ordinary - a catch-all FastAPI route, ``jwt.decode`` per
request, one shared ``httpx.AsyncClient`` - not a straw man: it verifies
signature, issuer, audience and expiry, and it pools connections.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import jwt
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

__all__ = ["app"]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-encoding",
}

_UPSTREAM = os.environ.get("NAIVE_UPSTREAM", "http://127.0.0.1:9000")
_ISSUER = os.environ.get("NAIVE_ISSUER", "https://bench.jwtgate.test")
_AUDIENCE = os.environ.get("NAIVE_AUDIENCE", "bench")
_KEYS: dict[str, jwt.PyJWK] = {}
_client: httpx.AsyncClient | None = None


def _load_keys() -> None:
    path = os.environ.get("NAIVE_JWKS")
    if path:
        keyset = jwt.PyJWKSet.from_json(Path(path).read_text(encoding="utf-8"))
        _KEYS.update({k.key_id: k for k in keyset.keys if k.key_id})


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global _client
    _load_keys()
    _client = httpx.AsyncClient(
        base_url=_UPSTREAM, limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
    )
    yield
    await _client.aclose()


app = FastAPI(lifespan=_lifespan)


def _unauthorized(reason: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_token", "error_description": reason},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


@app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def proxy(path: str, request: Request) -> Response:
    """Verify the bearer token, then forward the request upstream."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        return _unauthorized("missing token")
    token = auth[7:]
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = _KEYS.get(kid or "")
        if key is None:
            return _unauthorized("unknown key")
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm_name],
            audience=_AUDIENCE,
            issuer=_ISSUER,
        )
    except jwt.PyJWTError:
        return _unauthorized("invalid token")
    assert _client is not None
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in _HOP_BY_HOP and k.lower() not in ("authorization", "host")
    }
    headers["x-user-id"] = str(claims.get("sub", ""))
    upstream = await _client.request(
        request.method,
        "/" + path,
        params=request.query_params,
        headers=headers,
        content=await request.body(),
    )
    return Response(
        content=upstream.content,
        status_code=upstream.status_code,
        headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP},
    )
