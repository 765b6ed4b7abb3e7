"""Cookies without Secure are a loopback-only relaxation (RFC 6265bis 8.6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jwtgate.auth import serve_standalone
from jwtgate.config import JwtGateConfig, load_config_text
from jwtgate.demo.settings import demo_config
from jwtgate.errors import ConfigError

_RELAXED = "auth:\n  cookies:\n    secure: false{extra}\ngateway:\n  listeners:\n{listeners}"


def _text(hosts: list[str], extra: str = "") -> str:
    listeners = "".join(f"    - host: '{h}'\n      port: {8080 + i}\n" for i, h in enumerate(hosts))
    return _RELAXED.format(extra=extra, listeners=listeners)


@pytest.mark.parametrize(
    "hosts", [["127.0.0.1"], ["::1"], ["localhost"], ["127.0.0.1", "127.0.0.2"]]
)
def test_secure_off_is_accepted_on_loopback(hosts: list[str]) -> None:
    assert load_config_text(_text(hosts)).auth.cookies.secure is False


@pytest.mark.parametrize(
    ("hosts", "index"),
    [(["0.0.0.0"], 0), (["10.1.2.3"], 0), (["127.0.0.1", "api.example.com"], 1), (["::"], 0)],
)
def test_secure_off_is_refused_off_loopback(hosts: list[str], index: int) -> None:
    with pytest.raises(ConfigError, match=rf"gateway\.listeners\[{index}\]\.host"):
        load_config_text(_text(hosts))


def test_secure_on_is_accepted_anywhere() -> None:
    config = load_config_text("gateway:\n  listeners:\n    - host: 0.0.0.0\n      port: 8080\n")
    assert config.auth.cookies.secure is True


def test_the_demo_on_a_network_host_says_so(tmp_path: Path) -> None:
    # `jwtgate demo --host 0.0.0.0` stays possible (it warns); loopback needs no flag.
    assert demo_config("0.0.0.0", 9000, tmp_path).auth.cookies.demo_on_network is True
    assert demo_config("127.0.0.1", 9000, tmp_path).auth.cookies.demo_on_network is False
    explicit = load_config_text(_text(["0.0.0.0"], extra="\n    demo_on_network: true"))
    assert explicit.auth.cookies.secure is False


async def test_serve_auth_refuses_secure_off_on_a_network_host(tmp_path: Path) -> None:
    config = JwtGateConfig.model_validate(
        {"data_dir": str(tmp_path), "auth": {"cookies": {"secure": False}}}
    )
    with pytest.raises(ConfigError, match="loopback"):
        await serve_standalone(config, host="0.0.0.0", port=0)
    assert not os.listdir(tmp_path)  # refused before any key or database was created
