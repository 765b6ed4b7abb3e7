"""Load configuration from YAML with ``${ENV}`` substitution and path-named errors."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from jwtgate.config.root import JwtGateConfig
from jwtgate.errors import ConfigError

__all__ = ["format_location", "load_config", "load_config_text"]

# ${NAME} or ${NAME:-default}; $$ escapes a literal dollar.
_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(value: str, env: Mapping[str, str], where: str) -> str:
    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _ENV_RE.sub(repl, value)


def _walk(node: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(node, str):
        return _substitute(node, env, where or "<root>")
    if isinstance(node, list):
        return [_walk(v, env, f"{where}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where or '<root>'}: keys must be strings")
            out[key] = _walk(value, env, f"{where}.{key}" if where else key)
        return out
    return node


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a classic source of silent misconfiguration)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def format_location(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as ``routes[2].require.scopes``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        lines.append(f"{format_location(loc)}: {err['msg']}")
    return "; ".join(lines)


def load_config_text(
    text: str, *, env: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> JwtGateConfig:
    """Parse YAML text into a validated :class:`JwtGateConfig`.

    Relative ``data_dir`` is resolved against ``base_dir`` when given.
    """
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        raise ConfigError(f"{where}: not valid YAML") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("<root>: the configuration must be a mapping")
    data = _walk(raw, os.environ if env is None else env, "")
    try:
        config = JwtGateConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    if base_dir is not None and not config.data_dir.is_absolute():
        config = config.model_copy(update={"data_dir": base_dir / config.data_dir})
    return config


def load_config(path: Path | str | None, *, env: Mapping[str, str] | None = None) -> JwtGateConfig:
    """Load a configuration file, or the embedded defaults when ``path`` is None."""
    if path is None:
        return JwtGateConfig()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {p}: {type(exc).__name__}") from None
    return load_config_text(text, env=env)
