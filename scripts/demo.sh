#!/usr/bin/env bash
# Set up and run the demo: auth server, gateway and echo upstream on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/jwtgate demo "$@"
