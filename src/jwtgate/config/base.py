"""Shared base for every configuration section: frozen, strict, typed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """A frozen configuration model that rejects unknown keys.

    Strictness matters for security configuration: a misspelt key such as
    ``algoritms`` must be an error, never silently fall back to a default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)
