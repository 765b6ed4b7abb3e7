#!/usr/bin/env bash
# Gateway benchmark on loopback: jwtgate vs nginx vs a naive Python gateway.
# Installs nginx and wrk from Debian's packages when they are missing, then runs
# benchmarks/gateway.py (arguments are passed through: --quick, --json, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# nginx lives in /usr/sbin, which is not on every user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"

[ -x .venv/bin/python ] || scripts/bootstrap.sh
exec .venv/bin/python benchmarks/gateway.py "$@"
