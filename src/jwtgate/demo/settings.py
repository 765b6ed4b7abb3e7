"""The demo's configuration, built in code (and saved as YAML for the CLI to reuse).

Everything runs in one process on loopback: the gateway, the auth server
(``internal://auth``), the echo upstream and the browser console. Revocation
is in-memory, which is correct only because of that single process and single
worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jwtgate.config import JwtGateConfig
from jwtgate.config.gateway import is_loopback_host
from jwtgate.config.routes import default_routes

__all__ = [
    "DEFAULT_DEMO_DIR",
    "DEMO_AUDIENCE",
    "DEMO_USERS",
    "DemoUser",
    "demo_config",
    "demo_config_data",
    "write_demo_config",
]

DEFAULT_DEMO_DIR = Path(".jwtgate-demo")
"""Default demo data directory; separate from ``.jwtgate`` so the demo users, whose
passwords are public, can never end up in a real deployment's store."""

DEMO_AUDIENCE = "jwtgate-demo"
"""The ``aud`` of demo access tokens."""

CONFIG_FILE = "demo.yaml"


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A DEMO-ONLY user whose password is published in the docs."""

    username: str
    password: str
    roles: tuple[str, ...]


DEMO_USERS = (
    DemoUser("alice", "alice-in-wonderland", ("admin", "user")),
    DemoUser("bob", "bob-the-builder", ("user",)),
)
"""The demo users, created at first start. Their passwords are public: DEMO-ONLY."""


def _issuer_host(host: str) -> str:
    # A wildcard bind address is not something a client can reach; tokens name loopback.
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def demo_config_data(host: str, port: int, data_dir: Path) -> dict[str, Any]:
    """The demo configuration as plain data (what ``demo.yaml`` holds)."""
    base = f"http://{_issuer_host(host)}:{port}"
    return {
        "data_dir": str(data_dir.resolve()),
        "tokens": {"issuer": f"{base}/auth", "audience": DEMO_AUDIENCE},
        "auth": {
            # Plain HTTP on loopback: browsers drop Secure cookies over http://, so the
            # demo turns Secure off (and with it the __Host- prefix, RFC 6265bis 4.1.3.2).
            # HttpOnly and SameSite=Strict stay on. Never do this on a real network.
            "cookies": {
                "secure": False,
                "access_in_cookie": True,
                # `jwtgate demo --host 0.0.0.0` is allowed on purpose (and warns).
                "demo_on_network": not is_loopback_host(host),
            },
        },
        "revocation": {"backend": "memory"},
        "gateway": {
            "listeners": [{"host": host, "port": port}],
            # No separate admin listener: two demos must run side by side without a
            # fixed second port.
            "admin_listener": None,
            "workers": 1,
            # The embedded default routes are the demo wiring; written out in
            # demo.yaml so the file shows what the gateway enforces.
            "routes": [
                route.model_dump(mode="json", exclude_defaults=True) for route in default_routes()
            ],
        },
    }


def demo_config(host: str, port: int, data_dir: Path) -> JwtGateConfig:
    """The validated demo configuration."""
    return JwtGateConfig.model_validate(demo_config_data(host, port, data_dir))


def write_demo_config(host: str, port: int, data_dir: Path) -> Path:
    """Save the demo configuration as ``DATA_DIR/demo.yaml`` and return its path.

    Rewritten at every start (the issuer names the port), so CLI commands can
    use the same settings: ``jwtgate token verify --config DATA_DIR/demo.yaml``.
    """
    path = data_dir / CONFIG_FILE
    text = (
        "# Written by `jwtgate demo` at every start; edits are overwritten.\n"
        "# DEMO-ONLY settings: plain HTTP, Secure cookies relaxed, public demo passwords.\n"
        + yaml.safe_dump(demo_config_data(host, port, data_dir), sort_keys=False)
    )
    path.write_text(text, encoding="utf-8")
    return path
