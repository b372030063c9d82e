# Sourced by the other scripts: find Python 3.11+, create .venv and install the project into it.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXTRAS="${1:-}"

PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
        PYTHON="$candidate"
        break
    fi
done
if [ -z "$PYTHON" ]; then
    echo "error: Python 3.11 or newer is needed — install it (e.g. apt-get install python3) and run this again" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "→ creating a virtual environment in .venv"
    "$PYTHON" -m venv .venv || {
        echo "error: could not create .venv — install the venv module (e.g. apt-get install python3-venv)" >&2
        exit 1
    }
fi
STAMP=".venv/.installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    echo "→ installing kommo-analytics${EXTRAS:+ [$EXTRAS]} into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}"
    touch "$STAMP"
fi
# shellcheck disable=SC1091
source .venv/bin/activate
