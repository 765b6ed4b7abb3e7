"""Opening the local keyring for CLI commands, with progress for slow key generation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jwtgate.cli.context import CliContext
from jwtgate.cli.errors import CliError
from jwtgate.errors import KeyMaterialError

if TYPE_CHECKING:
    from jwtgate.jose import Keyring

__all__ = ["ALGORITHMS", "announce_generation", "open_keyring", "open_or_create_keyring"]

ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA", "HS256")
"""Signing algorithms a key can be bound to."""


def announce_generation(ctx: CliContext, algorithm: str) -> None:
    """Tell the user on stderr that a key is being generated (RSA takes seconds)."""
    if algorithm in ("RS256", "PS256"):
        bits = ctx.config.tokens.rsa_bits
        ctx.note(f"generating an RSA-{bits} key for {algorithm} (this can take a few seconds)...")
    else:
        ctx.note(f"generating an {algorithm} key...")


def open_keyring(ctx: CliContext, *, create: bool, algorithm: str | None = None) -> Keyring:
    """Open the keyring in the data directory (see :func:`open_or_create_keyring`)."""
    return open_or_create_keyring(ctx, create=create, algorithm=algorithm)[0]


def open_or_create_keyring(
    ctx: CliContext, *, create: bool, algorithm: str | None = None
) -> tuple[Keyring, bool]:
    """Open the keyring in the data directory; the flag says whether it was just created.

    With ``create=False`` a missing keyring is a clear error telling the user
    how to make one, instead of silently generating keys in the wrong place.
    """
    from jwtgate.runtime import open_keyring

    config = ctx.config.model_copy(update={"data_dir": ctx.data_dir})

    def _open(create: bool) -> Keyring:
        return open_keyring(config, create=create, algorithm=algorithm)

    try:
        return _open(False), False
    except KeyMaterialError as exc:
        if not create:
            if (ctx.data_dir / "keys").exists():
                raise CliError(f"keyring in {ctx.data_dir}: {exc.description}") from None
            raise CliError(
                f"no keyring in {ctx.data_dir}; run 'jwtgate keys generate' "
                "(or pass --data-dir / --config)"
            ) from None
    announce_generation(ctx, algorithm or config.tokens.algorithm)
    return _open(True), True
