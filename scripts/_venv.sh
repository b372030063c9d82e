# Sourced by the other scripts: find Python 3.11+, create .venv and install the project into it.
# Re-installs only when pyproject.toml changed since the last install.
#
# The extras to install come from the variable KOMMO_VENV_EXTRAS (e.g. `dev`), never from
# arguments: a sourced file sees its caller's arguments as its own, so `demo.sh --help` would
# otherwise ask pip for the extras "[--help]".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXTRAS="${KOMMO_VENV_EXTRAS:-}"

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

# pip, with one line of progress per phase instead of silence or its hundreds of lines; its full
# output is kept in .venv/pip.log and shown in part when it fails.
_pip_install_with_progress() {
    local log=.venv/pip.log count=0 line
    # --no-compile: Python compiles a module when it is first imported; compiling every file of
    # every package here (most never imported) took a third of the install's time.
    if ! .venv/bin/python -m pip install --disable-pip-version-check --no-compile \
        --progress-bar off "$@" 2>&1 |
        tee "$log" |
        while IFS= read -r line; do
            case "$line" in
                Collecting*)
                    count=$((count + 1))
                    if [ -t 1 ]; then
                        printf '\r  resolving and downloading: %d packages' "$count"
                    elif [ $((count % 25)) -eq 0 ]; then
                        echo "  resolving and downloading: $count packages"
                    fi
                    ;;
                "Installing collected packages"*)
                    [ -t 1 ] && echo
                    echo "  resolving and downloading: $count packages — done"
                    echo "  installing them (the longest step, about a minute)…"
                    ;;
            esac
        done; then
        echo >&2
        echo "error: installing into .venv failed — pip's last lines are below (all of them in $ROOT/$log); check the network and the disk space, then run this again" >&2
        tail -n 15 "$log" >&2
        exit 1
    fi
}

STAMP=".venv/.installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    if [ -n "$EXTRAS" ]; then
        # The tools of [dev] come on top of the demo's ~2 minutes and ~800 MB.
        echo "→ installing kommo-analytics [$EXTRAS] and its dependencies into .venv (first run only: a few minutes, 1 GB or so of disk)"
    else
        echo "→ installing kommo-analytics and its dependencies into .venv (first run only: about 2 minutes, ~800 MB of disk)"
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    _pip_install_with_progress -e ".${EXTRAS:+[$EXTRAS]}"
    touch "$STAMP"
    echo "✓ installed into .venv"
fi
# shellcheck disable=SC1091
source .venv/bin/activate
