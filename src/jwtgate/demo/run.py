"""``jwtgate demo``: bootstrap the data directory, then serve everything in one process."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from jwtgate.config import JwtGateConfig
from jwtgate.demo.guide import banner, curl_flow, ready_line
from jwtgate.demo.settings import DEMO_USERS, demo_config, write_demo_config

__all__ = ["bootstrap_demo", "prepare_data_dir", "run_demo"]


def prepare_data_dir(data_dir: Path) -> bool:
    """Create the data directory (owner-only); True if it did not exist before.

    A ``.gitignore`` of ``*`` keeps the demo's keys and database out of any
    repository the demo happens to run in.
    """
    first = not data_dir.exists()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ignore = data_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# jwtgate demo data: keys and database, never commit\n*\n")
    return first


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _announce(out: TextIO, message: str) -> None:
    out.write(f"jwtgate: {message}\n")
    out.flush()


async def _seed_users(config: JwtGateConfig) -> list[str]:
    from jwtgate.auth.admin import AuthAdmin

    created = []
    async with AuthAdmin.open(config) as admin:
        for user in DEMO_USERS:
            if await admin.ensure_user(user.username, user.password, user.roles):
                created.append(user.username)
    return created


def bootstrap_demo(config: JwtGateConfig, *, progress: TextIO) -> bool:
    """Keys and demo users, created at first start and reused afterwards.

    Returns True when anything was created (first start).
    """
    from jwtgate.runtime import open_keyring

    tokens = config.tokens
    keys_meta = config.data_dir / "keys" / "keyring.json"
    new_keys = not keys_meta.exists()
    if new_keys:
        _announce(progress, f"generating the demo's {tokens.algorithm} signing key...")
    open_keyring(config, create=True)
    created = asyncio.run(_seed_users(config))
    if created:
        _announce(progress, f"created DEMO-ONLY users: {', '.join(created)}")
    return bool(created) or new_keys


def run_demo(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    data_dir: Path,
    as_json: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the demo in the foreground until Ctrl-C; returns the exit status (0)."""
    from jwtgate.components import build_components
    from jwtgate.gateway.server import serve

    out = out or sys.stdout
    err = err or sys.stderr
    if not _is_loopback(host):
        _announce(
            err,
            f"WARNING: --host {host} exposes the DEMO-ONLY users (public passwords) and "
            "non-Secure cookies beyond this machine; use 127.0.0.1 unless you mean it",
        )
    data_dir = data_dir.resolve()
    prepare_data_dir(data_dir)
    config = demo_config(host, port, data_dir)
    first = bootstrap_demo(config, progress=err)
    config_path = write_demo_config(host, port, data_dir)
    base = config.tokens.issuer.removesuffix("/auth")

    def _ready(*_: Any) -> None:
        if as_json:
            info = {
                "event": "ready",
                "url": f"{base}/",
                "data_dir": str(data_dir),
                "config": str(config_path),
                "users": [
                    {"username": u.username, "password": u.password, "roles": list(u.roles)}
                    for u in DEMO_USERS
                ],
                "curl": [line.text for line in curl_flow(base)],
            }
            out.write(json.dumps(info) + "\n")
        else:
            out.write("\n".join(banner(base, data_dir, config_path, first_start=first)) + "\n")
            out.write(ready_line(base) + "\n")
        out.flush()

    with contextlib.suppress(KeyboardInterrupt):
        serve(config, config_path, build_components, ready=_ready)
    _announce(err, "demo stopped")
    return 0
