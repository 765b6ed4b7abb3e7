"""The API gateway: per-route JWT policy in front of upstream services.

One module per pipeline stage (``headers``, ``extract``, ``authenticate``,
``authorize``, ``limit``, ``forward``/``proxy``); ``pipeline`` alone knows
their order. Configuration is compiled once (``compile``) into immutable
objects; ``app`` is the raw ASGI application and ``server`` runs it.
"""

from __future__ import annotations

from jwtgate.gateway.app import AdminApp, GatewayApp
from jwtgate.gateway.compile import CompiledGateway, compile_gateway
from jwtgate.gateway.server import check_workers, serve
from jwtgate.gateway.worker import serve_async

__all__ = [
    "AdminApp",
    "CompiledGateway",
    "GatewayApp",
    "check_workers",
    "compile_gateway",
    "serve",
    "serve_async",
]
