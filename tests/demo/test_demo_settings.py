"""The demo's configuration, start-up text and component factory."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from jwtgate.components import build_components
from jwtgate.config import load_config
from jwtgate.demo import DEMO_AUDIENCE, DEMO_USERS, demo_config
from jwtgate.demo.guide import banner, curl_flow, ready_line
from jwtgate.demo.run import prepare_data_dir
from jwtgate.demo.settings import write_demo_config
from jwtgate.errors import ConfigError
from jwtgate.gateway import compile_gateway


def test_demo_config_wiring(tmp_path: Path) -> None:
    config = demo_config("127.0.0.1", 8123, tmp_path)
    assert config.tokens.issuer == "http://127.0.0.1:8123/auth"
    assert config.tokens.audience == DEMO_AUDIENCE
    assert config.revocation.backend == "memory"
    assert config.gateway.workers == 1
    assert config.gateway.admin_listener is None  # no second fixed port: demos side by side
    # Documented relaxation: plain HTTP loopback, so no Secure cookies.
    assert config.auth.cookies.secure is False
    compiled = compile_gateway(config)
    routes = {r.name: r for r in compiled.routes}
    assert routes["auth"].internal == "auth"
    assert routes["auth"].auth == "public"
    assert routes["echo"].auth == "required"
    assert routes["admin"].roles_any == frozenset({"admin"})
    assert routes["public"].auth == "public"
    assert routes["console"].prefix == "/"
    assert routes["console"].internal == "console"
    assert compiled.routes[-1].name == "console"  # the catch-all comes last
    for name in ("echo", "admin", "stats"):
        assert routes[name].cookie == "jwtgate-access"  # cookie source opt-in on /api
    assert routes["public"].cookie is None
    assert compiled.internal_names == frozenset({"auth", "echo", "console"})


def test_wildcard_host_issues_for_loopback(tmp_path: Path) -> None:
    assert demo_config("0.0.0.0", 9000, tmp_path).tokens.issuer == "http://127.0.0.1:9000/auth"


def test_demo_yaml_round_trips_through_the_loader(tmp_path: Path) -> None:
    prepare_data_dir(tmp_path / "d")
    path = write_demo_config("127.0.0.1", 8124, tmp_path / "d")
    assert load_config(path) == demo_config("127.0.0.1", 8124, tmp_path / "d")
    assert (tmp_path / "d" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (tmp_path / "d").stat().st_mode & 0o077 == 0  # owner-only data directory


def test_banner_lists_users_urls_and_the_curl_flow(tmp_path: Path) -> None:
    base = "http://127.0.0.1:8125"
    text = "\n".join(banner(base, tmp_path, tmp_path / "demo.yaml", first_start=True))
    for user in DEMO_USERS:
        assert user.username in text
        assert user.password in text
    assert "DEMO-ONLY" in text
    for path in ("/", "/auth", "/api/echo", "/api/admin", "/api/public", "/healthz"):
        assert base + path in text
    assert ready_line(base).startswith(f"jwtgate demo ready on {base}/")


def test_curl_flow_is_valid_shell_with_expectations() -> None:
    flow = curl_flow("http://127.0.0.1:8126")
    commands = [line for line in flow if not line.text.startswith("#")]
    for line in commands:
        shlex.split(line.text)  # every line is well-quoted shell
    expectations = [line.expect for line in flow if line.expect is not None]
    assert expectations == [200, 403, 200, 200, 200, 401]
    joined = "\n".join(line.text for line in flow)
    for step in ("/auth/login", "/auth/token", "grant_type=refresh_token", "/auth/logout"):
        assert step in joined


async def test_component_factory(tmp_path: Path) -> None:
    from jwtgate.runtime import build_runtime

    config = demo_config("127.0.0.1", 8127, tmp_path)
    runtime = await build_runtime(config, None, components=frozenset({"auth"}))
    try:
        built = await build_components(runtime, frozenset({"echo", "console"}))
        assert set(built) == {"echo", "console"}
        with pytest.raises(ConfigError, match="unknown internal upstream"):
            await build_components(runtime, frozenset({"echo", "mystery"}))
    finally:
        await runtime.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_non_loopback_demo_is_flagged(host: str, loopback: bool) -> None:
    from jwtgate.demo.run import _is_loopback

    assert _is_loopback(host) is loopback
