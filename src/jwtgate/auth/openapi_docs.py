"""OpenAPI request-body descriptions for the endpoints that parse their bodies by hand.

The routes read bodies themselves (size cap before parsing, strict JSON and
form rules), so FastAPI cannot infer the schemas; these fragments document
them in ``/auth/openapi.json``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FORM_BODY", "LOGIN_BODY", "TOKEN_BODY"]

_STR: dict[str, Any] = {"type": "string"}

LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": _STR,
                        "password": {"type": "string", "format": "password"},
                        "scope": {"type": "string", "description": "space-separated scopes"},
                        "cookie": {"type": "boolean", "description": "browser cookie mode"},
                        "access_cookie": {
                            "type": "boolean",
                            "description": "cookie mode: also put the access token in a cookie",
                        },
                    },
                },
                "example": {"username": "alice", "password": "alice-in-wonderland"},
            }
        },
    }
}

TOKEN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {
                            "type": "string",
                            "enum": ["refresh_token", "client_credentials", "password"],
                        },
                        "refresh_token": _STR,
                        "scope": _STR,
                        "client_id": _STR,
                        "client_secret": {"type": "string", "format": "password"},
                        "username": _STR,
                        "password": {"type": "string", "format": "password"},
                    },
                }
            }
        },
    }
}

FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": _STR,
                        "token_type_hint": {
                            "type": "string",
                            "enum": ["access_token", "refresh_token"],
                        },
                        "client_id": _STR,
                        "client_secret": {"type": "string", "format": "password"},
                    },
                }
            }
        },
    }
}
