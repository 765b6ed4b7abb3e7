"""``python -m jwtgate.gateway --config FILE``: run the gateway in the foreground."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from jwtgate.config import load_config
from jwtgate.errors import ConfigError, JwtGateError
from jwtgate.runtime import ComponentFactory

__all__ = ["main"]


def _factory() -> ComponentFactory | None:
    """The project's component factory, when that package is installed."""
    try:
        module = importlib.import_module("jwtgate.components")
    except ImportError:
        return None
    factory: ComponentFactory | None = getattr(module, "build_components", None)
    return factory


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load the configuration and serve; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m jwtgate.gateway", description=__doc__)
    parser.add_argument("--config", type=Path, help="YAML configuration file")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from jwtgate.gateway.compile import compile_gateway
    from jwtgate.gateway.server import check_workers, serve

    try:
        config = load_config(args.config)
        compile_gateway(config)
        check_workers(config)
        if args.check:
            print("configuration OK")
            return 0
        serve(config, args.config, _factory())
    except ConfigError as exc:
        print(f"jwtgate: {exc.description}", file=sys.stderr)
        return 2
    except JwtGateError as exc:
        print(f"jwtgate: {exc.code}: {exc.description}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
