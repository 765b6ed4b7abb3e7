"""``python -m jwtgate`` runs the ``jwtgate`` command."""

from __future__ import annotations

import sys

from jwtgate.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
