#!/usr/bin/env bash
# README command 2: set everything up, then run every check: lint, format, types, tests.
set -euo pipefail
KOMMO_VENV_EXTRAS=dev
source "$(dirname "$0")/_venv.sh"

echo "→ ruff check";  ruff check src tests benchmarks
echo "→ ruff format"; ruff format --check src tests benchmarks
echo "→ mypy";        mypy
echo "→ bandit (hard-coded secrets, SQL built from strings)"
# Rules in pyproject.toml. On a line marked `# nosec B608`, bandit warns about every other string
# there ("nosec encountered …, but no failed test"); only that noise is dropped from its stderr.
{ python -m bandit -q -c pyproject.toml -r src 2>&1 1>&3 3>&- \
    | { grep -v "nosec encountered" || true; } >&2; } 3>&1
echo "→ pip-audit";   python scripts/audit.py
echo "→ pytest"
status=0
# One worker per core; a test module stays on one worker, so its module-scoped fixtures (a synced
# warehouse, a running dashboard) are built once. `-n 0` after the command runs in one process.
# The slowest tests are listed at the end: CI must stay under 15 minutes on two cores, and a test
# that grows slow belongs in benchmarks/.
python -m pytest -n auto --dist loadscope --no-loadscope-reorder --durations=15 "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests — that is a failure, not a pass" >&2
    exit 1
fi
exit "$status"
