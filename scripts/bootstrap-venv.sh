#!/bin/sh
# Create the virtual environment; on Debian without python3-venv, install it first (as root).
set -eu
PYTHON=${1:-python3}
VENV=${2:-.venv}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  exit 0
fi
rm -rf "$VENV"
if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "python venv support missing: installing python3-venv" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  else
    echo "error: '$PYTHON -m venv' failed; install your distribution's python3-venv package" >&2
    exit 1
  fi
fi
