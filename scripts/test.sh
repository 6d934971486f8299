#!/usr/bin/env bash
# Set up (.venv, see scripts/setup.sh) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/fresh-env.sh       # under CI=true: empty temporary and cache directories
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
