"""Entry point of the ``jwtgate`` command: parse, dispatch, and turn errors into one line.

Exit status: 0 success, 1 operational error (a :class:`~jwtgate.errors.JwtGateError`
with its stable code), 2 usage error, 130 interrupted. Tracebacks are never
shown unless ``JWTGATE_DEBUG=1`` is set, because they can carry file paths and
values a user did not mean to share.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Sequence

from jwtgate.cli.context import CliContext
from jwtgate.cli.errors import UsageError
from jwtgate.cli.parser import JwtGateArgumentParser, build_parser
from jwtgate.errors import JwtGateError

__all__ = ["main"]


def _report(ctx: CliContext, code: str, description: str) -> None:
    if ctx.json:
        line = json.dumps({"error": code, "error_description": description})
    else:
        # One line, whatever the description holds.
        flat = " ".join(description.split())
        line = f"jwtgate: error: {code}: {flat}"
    ctx.stderr.write(line + "\n")
    ctx.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jwtgate`` command line and return its exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    JwtGateArgumentParser.json_errors = "--json" in argv
    args = parser.parse_args(argv)
    ctx = CliContext(args)
    handler = getattr(args, "handler", None)
    if handler is None:
        # A bare group (``jwtgate keys``): show what it offers.
        group = getattr(args, "group_parser", parser)
        group.print_help(sys.stderr)
        return 2
    try:
        return int(handler(ctx))
    except UsageError as exc:
        _report(ctx, exc.code, exc.description)
        return 2
    except JwtGateError as exc:
        _report(ctx, exc.code, exc.description)
        return 1
    except KeyboardInterrupt:
        _report(ctx, "interrupted", "interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (``jwtgate keys list | head -1``); not an error worth a line.
        return 1
    except Exception as exc:
        if os.environ.get("JWTGATE_DEBUG") == "1":
            traceback.print_exc()
        _report(
            ctx,
            "internal_error",
            f"unexpected {type(exc).__name__}; set JWTGATE_DEBUG=1 to see the traceback",
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
