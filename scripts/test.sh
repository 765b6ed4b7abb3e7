#!/usr/bin/env bash
# The whole test suite: set up, lint, type-check, then every test
# (unit, PostgreSQL, Redis, end-to-end processes, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/services.sh
scripts/ensure-chromium.sh
echo "==> ruff" >&2
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
echo "==> mypy --strict" >&2
.venv/bin/mypy src
echo "==> pytest" >&2
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
