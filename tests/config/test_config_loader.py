"""The configuration loader: strict YAML, ${ENV} substitution, path-named errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from jwtgate.config import JwtGateConfig, load_config, load_config_text
from jwtgate.errors import ConfigError


def test_empty_document_gives_embedded_defaults() -> None:
    config = load_config_text("")
    assert config == JwtGateConfig()
    assert config.tokens.algorithm == "ES256"
    assert config.tokens.access_ttl == 900
    assert config.tokens.leeway == 30
    assert config.tokens.max_token_bytes == 8192


def test_no_path_gives_embedded_defaults() -> None:
    assert load_config(None) == JwtGateConfig()


def test_env_substitution_with_default_and_escape() -> None:
    text = 'tokens:\n  issuer: "${ISS}"\n  audience: "${AUD:-fallback}"\ndata_dir: "a$$b"\n'
    config = load_config_text(text, env={"ISS": "https://id.example"})
    assert config.tokens.issuer == "https://id.example"
    assert config.tokens.audience == "fallback"
    assert str(config.data_dir) == "a$b"


def test_missing_env_variable_names_the_path() -> None:
    with pytest.raises(ConfigError, match=r"tokens\.issuer: environment variable NOPE"):
        load_config_text('tokens:\n  issuer: "${NOPE}"\n', env={})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tokens:\n  algoritm: ES256\n", "tokens.algoritm: Extra inputs are not permitted"),
        ("tokens:\n  algorithm: none\n", "tokens.algorithm"),
        ("tokens:\n  algorithm: HS512\n", "tokens.algorithm"),
        ("tokens:\n  leeway: -1\n", "tokens.leeway"),
        ("tokens:\n  rsa_bits: 1024\n", "tokens.rsa_bits"),
        ("tokens:\n  access_ttl: 7200\n  max_ttl: 3600\n", "access_ttl must not exceed max_ttl"),
        ("bogus: 1\n", "bogus: Extra inputs are not permitted"),
        ("- a\n- b\n", "<root>: the configuration must be a mapping"),
        ("tokens: [\n", "not valid YAML"),
        ("tokens:\n  leeway: 1\ntokens:\n  leeway: 2\n", "duplicate key 'tokens'"),
    ],
)
def test_invalid_configuration_is_rejected_with_its_path(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={})
    assert fragment in info.value.description
    assert info.value.code == "config_invalid"


def test_configuration_is_frozen() -> None:
    config = load_config_text("")
    with pytest.raises(ValueError, match="frozen"):
        config.tokens.leeway = 5  # type: ignore[misc]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_relative_data_dir_resolves_against_base(tmp_path: Path) -> None:
    config = load_config_text("data_dir: state\n", base_dir=tmp_path)
    assert config.data_dir == tmp_path / "state"


def test_python_object_tags_are_not_constructed() -> None:
    # A YAML config must never instantiate Python objects (CVE-2017-18342 class).
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_text("data_dir: !!python/object/apply:os.getcwd []\n")
