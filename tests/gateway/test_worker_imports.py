"""A worker on the lean server loads neither uvicorn nor aiohttp until a setting needs them."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
import jwtgate.gateway.worker
print(sorted(m for m in ("aiohttp", "redis", "uvicorn") if m in sys.modules))
from jwtgate.gateway.uvicorn_server import UvicornServer, uvicorn_config
print("uvicorn" in sys.modules, uvicorn_config(lambda *a: None, 1.0).interface)
"""


def test_optional_servers_and_clients_load_on_demand() -> None:
    # A fresh interpreter: this test process has imported all of them already.
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True asgi3"
