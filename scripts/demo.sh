#!/usr/bin/env bash
# README command 1: set everything up, then run the main job (the demo account).
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
exec kommo-analytics demo "$@"
