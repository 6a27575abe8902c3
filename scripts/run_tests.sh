#!/usr/bin/env bash
# The test suite: install the pinned environment (first time only), lint, run pytest.
# Extra arguments go to pytest (e.g. -m "not slow" for the fast unit tests only).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh
# shellcheck disable=SC1091
source .venv/bin/activate
ruff check .
ruff format --check .
python -m pytest "$@"
