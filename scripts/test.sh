#!/usr/bin/env bash
# README command 2: set everything up, then run every check: lint, format, types, tests.
set -euo pipefail
KOMMO_VENV_EXTRAS=dev
source "$(dirname "$0")/_venv.sh"

echo "→ ruff check";  ruff check src tests benchmarks
echo "→ ruff format"; ruff format --check src tests benchmarks
echo "→ mypy";        mypy
echo "→ pytest"
status=0
python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests — that is a failure, not a pass" >&2
    exit 1
fi
exit "$status"
