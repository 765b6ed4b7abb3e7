"""docs/configuration.md is the generated reference, and it covers every field."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from jwtgate.config import JwtGateConfig, TokenSettings
from jwtgate.config.reference import render_reference

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def test_docs_match_the_models() -> None:
    # Regenerate with: .venv/bin/python scripts/gen-config-reference.py
    assert DOC.read_text(encoding="utf-8") == render_reference()


def _leaf_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    return [f"{prefix}{name}" for name in model.model_fields]


def test_every_top_level_and_token_field_is_listed() -> None:
    text = render_reference()
    for path in _leaf_paths(JwtGateConfig):
        assert f"| `{path}` |" in text
    for name in TokenSettings.model_fields:
        assert f"| `tokens.{name}` |" in text
    assert "| `gateway.routes[].require.scopes.any_of` |" in text


def test_readme_embeds_the_current_reference() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = render_reference().split("| key | type | default | meaning |", 1)[1]
    assert table in readme, "run .venv/bin/python scripts/gen-config-reference.py"
