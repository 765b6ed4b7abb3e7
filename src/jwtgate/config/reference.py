"""Render the configuration reference (every field, its type and default) as Markdown.

The reference in ``docs/configuration.md`` is generated from the models
themselves, so it cannot drift from what the loader accepts; a test
compares the file with :func:`render_reference`.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from jwtgate.config.root import JwtGateConfig

__all__ = ["render_reference"]


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a).replace("'", '"') for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (tuple, list, frozenset, set):
        items = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return f"list[{', '.join(_type_name(a) for a in items)}]"
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(section)"
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple, frozenset, set)):
        if any(isinstance(v, BaseModel) for v in value):
            return f"({len(value)} entries, see the example configuration)"
        return "[" + ", ".join(f"`{v}`" for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"`{k}`: `{v}`" for k, v in value.items()) + "}"
    return f"`{value}`"


def _models_in(annotation: Any, in_list: bool = False) -> list[tuple[type[BaseModel], bool]]:
    """Models reachable from ``annotation``, each with whether it sits in a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, in_list)]
    is_list = in_list or typing.get_origin(annotation) in (list, tuple, frozenset, set)
    found: list[tuple[type[BaseModel], bool]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg, is_list)
    return found


def _rows(model: type[BaseModel], prefix: str, out: list[str], seen: set[str]) -> None:
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        out.append(f"| `{path}` | {_type_name(field.annotation)} | {_default(field)} | {desc} |")
        for sub, is_list in _models_in(field.annotation):
            nested.append((f"{path}[]." if is_list else f"{path}.", sub))
    for sub_prefix, sub in nested:
        key = f"{sub_prefix}{sub.__name__}"
        if key not in seen:
            seen.add(key)
            _rows(sub, sub_prefix, out, seen)


def render_reference() -> str:
    """The Markdown configuration reference for :class:`JwtGateConfig`."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the configuration models (`jwtgate config reference`);",
        "do not edit by hand. Every field is optional unless marked **required**;",
        "unknown keys are errors; `${ENV}` and `${ENV:-default}` are substituted",
        "in string values. Relative paths are taken from the working directory of",
        "the process (use absolute paths in service units).",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    _rows(JwtGateConfig, "", out, set())
    return "\n".join(out) + "\n"
